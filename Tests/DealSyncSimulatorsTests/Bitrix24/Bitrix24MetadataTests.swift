import DealSyncSimulators
import Foundation
import Testing

/// Funnels, stages, users, user fields and field descriptions of the default fitness portal.
struct Bitrix24MetadataTests {
    typealias Default = BitrixTest.Default

    @Test func categoryListHasTheDefaultFunnelAndClients() async throws {
        try await BitrixTest.withSimulator { _, client in
            let reply = try await client.call("crm.category.list", json: #"{"entityTypeId":2}"#)
            let categories = reply.resultObject.bitrixList("categories")
            #expect(categories.compactMap { $0.bitrixInt("id") } == [2, 0])
            #expect(categories[0].bitrixString("name") == "Клиенты" && categories[0].bitrixString("isDefault") == "N")
            #expect(categories[1].bitrixString("isDefault") == "Y" && categories[1].bitrixInt("entityTypeId") == 2)
            #expect(reply.object.bitrixInt("total") == 2)
        }
    }

    @Test func statusListGivesTheStagesOfAFunnelWithSemantics() async throws {
        try await BitrixTest.withSimulator { _, client in
            let reply = try await client.call("crm.status.list", json: #"{"filter":{"ENTITY_ID":"DEAL_STAGE_2"}}"#)
            let stages = reply.resultList
            #expect(
                stages.compactMap { $0.bitrixString("STATUS_ID") } == [
                    "C2:NEW", "C2:PREPARATION", "C2:PREPAYMENT_INVOICE", "C2:EXECUTING", "C2:FINAL_INVOICE", "C2:WON", "C2:LOSE",
                ])
            #expect(stages.compactMap { $0.bitrixString("NAME") }.prefix(2) == ["Первичный контакт", "Консультация"])
            #expect(
                stages[0]["SEMANTICS"] is NSNull && stages[5].bitrixString("SEMANTICS") == "S" && stages[6].bitrixString("SEMANTICS") == "F"
            )
            #expect(stages.allSatisfy { $0.bitrixString("CATEGORY_ID") == "2" && $0.bitrixString("ENTITY_ID") == "DEAL_STAGE_2" })
            #expect(stages[0].bitrixString("SORT") == "10")
            #expect(stages[6].bitrixObject("EXTRA").bitrixString("SEMANTICS") == "failure")
            let general = try await client.call("crm.status.list", query: "filter[ENTITY_ID]=DEAL_STAGE").resultList
            #expect(
                general.compactMap { $0.bitrixString("STATUS_ID") } == [
                    "NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "WON", "LOSE", "APOLOGY",
                ])
            #expect(general[0]["CATEGORY_ID"] is NSNull)
            #expect(general[7].bitrixObject("EXTRA").bitrixString("SEMANTICS") == "apology")
        }
    }

    @Test func userGetPagesBy50AndFilters() async throws {
        var configuration = BitrixTest.configuration()
        configuration.users += (100..<160).map {
            Bitrix24Simulator.User(id: $0, name: "Тренер", lastName: "№\($0)", email: "coach\($0)@fitcoach.example", active: $0 % 2 == 0)
        }
        try await BitrixTest.withSimulator(configuration) { _, client in
            let first = try await client.call("user.get", json: "{}")
            #expect(first.resultList.count == 50 && first.object.bitrixInt("total") == 63 && first.object.bitrixInt("next") == 50)
            #expect(first.resultList[0].bitrixString("ID") == "1" && first.resultList[0]["ACTIVE"] as? Bool == true)
            let second = try await client.call("user.get", json: #"{"start":50}"#)
            #expect(second.resultList.count == 13 && second.object["next"] == nil)
            let byID = try await client.call("user.get", json: #"{"ID":12}"#).resultList
            #expect(byID.count == 1 && byID[0].bitrixString("EMAIL") == "anna@fitcoach.example")
            let inactive = try await client.call("user.get", json: #"{"FILTER":{"ACTIVE":false}}"#)
            #expect(inactive.object.bitrixInt("total") == 30)
            #expect(try await client.call("user.current", json: "{}").resultObject.bitrixString("ID") == "1")
            let profile = try await client.call("profile").resultObject
            #expect(profile.bitrixString("ID") == "1" && profile["ADMIN"] as? Bool == true)
        }
    }

    @Test func userFieldsAndFieldDescriptions() async throws {
        try await BitrixTest.withSimulator { _, client in
            let fields = try await client.call("crm.deal.userfield.list", json: "{}").resultList
            #expect(
                fields.compactMap { $0.bitrixString("FIELD_NAME") } == [
                    Default.clientPhoneField, Default.programField, Default.sessionsField,
                ])
            #expect(fields.compactMap { $0.bitrixString("USER_TYPE_ID") } == ["string", "enumeration", "double"])
            #expect(fields[1].bitrixList("LIST").compactMap { $0.bitrixString("ID") } == ["41", "42", "43"])
            let onlyEnums = try await client.call("crm.deal.userfield.list", json: #"{"filter":{"USER_TYPE_ID":"enumeration"}}"#)
            #expect(onlyEnums.resultList.count == 1)
            let described = try await client.call("crm.deal.fields").resultObject
            #expect(described.bitrixObject("STAGE_ID").bitrixString("type") == "crm_status")
            #expect(described.bitrixObject("STAGE_ID").bitrixString("statusType") == "DEAL_STAGE")
            #expect(described.bitrixObject("DATE_MODIFY")["isReadOnly"] as? Bool == true)
            #expect(described.bitrixObject("CATEGORY_ID")["isImmutable"] as? Bool == true)
            #expect(described.bitrixObject(Default.programField).bitrixList("items").count == 3)
            #expect(described.bitrixObject(Default.programField).bitrixString("listLabel") == "Программа")
        }
    }

    /// The older catalogue methods client libraries call answer what the newer ones hold, in their own shapes.
    @Test func theOlderCatalogueMethodsAnswer() async throws {
        try await BitrixTest.withSimulator { _, client in
            let categories = try await client.call("crm.dealcategory.list")
            #expect(categories.status == 200, "\(categories.body)")
            #expect(
                categories.resultList.map { $0.bitrixString("ID") } == ["2"] && categories.resultList[0].bitrixString("NAME") == "Клиенты")
            #expect(categories.object.bitrixInt("total") == 1, "the default funnel is not listed")
            let stages = try await client.call("crm.dealcategory.stage.list", json: #"{"id":2}"#).resultList
            #expect(stages.first?.bitrixString("STATUS_ID") == Default.firstContact && stages.count == 7, "\(stages)")
            #expect(stages.first.map { Set($0.keys) } == ["NAME", "SORT", "STATUS_ID"])
            let defaultStages = try await client.call("crm.dealcategory.stage.list").resultList
            #expect(defaultStages.first?.bitrixString("STATUS_ID") == "NEW", "\(defaultStages)")
            let missing = try await client.call("crm.dealcategory.stage.list", json: #"{"id":9}"#)
            #expect(missing.status == 400 && missing.error == "", "\(missing.body)")
            let items = try await client.call("crm.status.entity.items", json: #"{"entityId":"DEAL_STAGE_2"}"#).resultList
            #expect(items.map { $0.bitrixString("STATUS_ID") } == stages.map { $0.bitrixString("STATUS_ID") })
            #expect(try await client.call("crm.status.entity.items", json: #"{"entityId":"DEAL_STAGE_9"}"#).resultList.isEmpty)
        }
    }
}
