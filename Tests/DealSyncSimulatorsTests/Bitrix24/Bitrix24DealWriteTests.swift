import DealSyncSimulators
import Foundation
import Testing

/// `crm.deal.add`, `.update`, `.delete`: what is kept, what is silently ignored, what always changes.
struct Bitrix24DealWriteTests {
    typealias Default = BitrixTest.Default

    @Test func addAnswersTheNewIDAsAnIntegerAndStartsInTheFunnelsFirstStage() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let reply = try await client.call(
                "crm.deal.add",
                json: """
                    {"fields":{"TITLE":"Новый клиент","CATEGORY_ID":"2","ORIGINATOR_ID":"dealsync","ORIGIN_ID":"md-1"},
                     "params":{"REGISTER_SONET_EVENT":"N"}}
                    """)
            #expect(reply.status == 200)
            #expect(reply.body.hasPrefix(#"{"result":106,"time":"#))
            let deal = try #require(simulator.deal(id: 106))
            #expect(deal.stageID == Default.firstContact && deal.categoryID == 2)
            #expect(deal.createdByID == Default.integrationUser && deal.modifyByID == Default.integrationUser)
            #expect(deal.assignedByID == Default.integrationUser)
            #expect(deal.originatorID == "dealsync" && deal.originID == "md-1")
            let untitled = try await client.call("crm.deal.add", json: #"{"fields":{}}"#)
            #expect(untitled.result as? Int == 107)
            #expect(simulator.deal(id: 107)?.title == "Сделка #107")
            #expect(simulator.deal(id: 107)?.stageID == "NEW", "no CATEGORY_ID: the default funnel 0")
        }
    }

    @Test func unknownFieldsAndStageIDsAreSilentlyIgnored() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let before = try #require(simulator.deal(id: 101))
            let reply = try await client.call(
                "crm.deal.update",
                json: """
                    {"id":101,"fields":{"TITLE":"Переименована","NO_SUCH_FIELD":"x","UF_CRM_NOPE":"y","STAGE_ID":"C2:NO_SUCH_STAGE",
                     "title":"lower-case keys are other fields","ID":999,"DATE_CREATE":"2001-01-01T00:00:00+03:00","CLOSED":"Y"}}
                    """)
            #expect(reply.status == 200 && reply.result as? Bool == true)
            let after = try #require(simulator.deal(id: 101))
            #expect(after.title == "Переименована")
            #expect(after.stageID == before.stageID && after.dateCreate == before.dateCreate && !after.closed)
            // A stage of another funnel is ignored too; CATEGORY_ID cannot change through update.
            _ = try await client.call("crm.deal.update", json: #"{"id":101,"fields":{"STAGE_ID":"WON","CATEGORY_ID":0}}"#)
            #expect(simulator.deal(id: 101)?.stageID == before.stageID && simulator.deal(id: 101)?.categoryID == 2)
            // A stage of its own funnel moves it, and the stage decides CLOSED.
            _ = try await client.call("crm.deal.update", json: #"{"id":101,"fields":{"STAGE_ID":"C2:LOSE"}}"#)
            let lost = try await client.call("crm.deal.get", json: #"{"id":101}"#).resultObject
            #expect(lost.bitrixString("STAGE_ID") == Default.inactive)
            #expect(lost.bitrixString("STAGE_SEMANTIC_ID") == "F" && lost.bitrixString("CLOSED") == "Y")
            // A value that is not an enumeration choice is ignored; one that is, kept.
            _ = try await client.call("crm.deal.update", form: "id=101&fields[UF_CRM_PROGRAM]=99")
            #expect(simulator.deal(id: 101)?.userField(Default.programField) == "41")
            _ = try await client.call("crm.deal.update", form: "id=101&fields[UF_CRM_PROGRAM]=43")
            #expect(simulator.deal(id: 101)?.userField(Default.programField) == "43")
        }
    }

    @Test func dateModifyMovesOnEveryUpdateEvenANoOpAndIgnoresWhatIsSent() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let seeded = try #require(simulator.deal(id: 103))
            simulator.advanceClock(bySeconds: 120)
            let noOp = try await client.call("crm.deal.update", json: #"{"id":103,"fields":{}}"#)
            #expect(noOp.status == 200)
            let first = try #require(simulator.deal(id: 103))
            #expect(first.dateModify > seeded.dateModify && first.dateModify >= simulator.now - 1)
            #expect(first.modifyByID == Default.integrationUser)
            #expect(first.title == seeded.title && first.opportunity == seeded.opportunity)
            simulator.advanceClock(bySeconds: 5)
            _ = try await client.call("crm.deal.update", json: #"{"id":103,"fields":{"DATE_MODIFY":"2020-01-01T00:00:00+03:00"}}"#)
            let second = try #require(simulator.deal(id: 103))
            #expect(second.dateModify >= first.dateModify + 5, "the value sent is ignored")
            #expect(second.dateCreate == seeded.dateCreate)
        }
    }

    @Test func modifyByIDIsTheCallingUser() async throws {
        var configuration = BitrixTest.configuration()
        configuration.webhooks.append(.init(userID: 15, code: "igor-hook"))
        try await BitrixTest.withSimulator(configuration) { simulator, client in
            _ = try await client.call("crm.deal.update", json: #"{"id":102,"fields":{"COMMENTS":"x"}}"#, prefix: "/rest/15/igor-hook")
            #expect(simulator.deal(id: 102)?.modifyByID == 15)
            _ = try await client.app("crm.deal.update", json: #"{"id":102,"fields":{"COMMENTS":"y"}}"#)
            #expect(simulator.deal(id: 102)?.modifyByID == Default.integrationUser)
        }
    }

    @Test func valuesAreReadTheWayPHPReadsThem() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            _ = try await client.call("crm.deal.update", form: "id=103&fields[OPPORTUNITY]=15%20000%2C50&fields[UF_CRM_SESSIONS]=7.5")
            #expect(simulator.deal(id: 103)?.opportunity == 15, "floatval stops at the first non-digit")
            #expect(simulator.deal(id: 103)?.userField(Default.sessionsField) == "7.5")
            _ = try await client.call("crm.deal.update", form: "id=103&fields[OPPORTUNITY]=4999.999&fields[COMMENTS]=")
            let deal = try await client.call("crm.deal.get", json: #"{"id":103}"#).resultObject
            #expect(deal.bitrixString("OPPORTUNITY") == "5000.00")
            #expect(deal["COMMENTS"] is NSNull, "an empty value clears the field")
            let scalar = try await client.call("crm.deal.update", json: #"{"id":103,"fields":"TITLE=x"}"#)
            #expect(scalar.status == 400 && scalar.errorDescription == "Parameter 'fields' must be array.")
        }
    }

    @Test func deleteRemovesTheDeal() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let reply = try await client.call("crm.deal.delete", query: "id=105")
            #expect(reply.status == 200 && reply.result as? Bool == true)
            #expect(simulator.deal(id: 105) == nil)
            #expect(try await client.call("crm.deal.get", query: "id=105").status == 400)
            #expect(try await client.call("crm.deal.delete", query: "id=105").errorDescription == "Not found")
        }
    }
}
