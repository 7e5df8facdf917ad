import DealSyncCore
import DealSyncSimulators
import Foundation
import Testing

/// `batch`: always 200, per-command results and errors, `[]` for empty sections, `halt`, the 50-command limit,
/// `$result` references.
struct Bitrix24BatchTests {
    typealias Default = BitrixTest.Default

    @Test func mixedResultsAndErrorsComeBackPerCommandWithHTTP200() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let reply = try await client.call(
                "batch",
                json: """
                    {"halt":0,"cmd":{
                      "upd":"crm.deal.update?id=101&fields[TITLE]=%D0%98%D0%B7%20batch",
                      "missing":"crm.deal.get?id=99999",
                      "page":"crm.deal.list?select[]=ID&filter[CATEGORY_ID]=2",
                      "nope":"crm.deal.explode",
                      "one":"crm.deal.get?id=102"}}
                    """)
            #expect(reply.status == 200)
            let batch = reply.resultObject
            let results = batch.bitrixObject("result")
            #expect(Set(results.keys) == ["upd", "page", "one"])
            #expect(results["upd"] as? Bool == true)
            #expect((results["page"] as? [[String: Any]])?.count == 4)
            #expect((results["one"] as? [String: Any])?.bitrixString("ID") == "102")
            let errors = batch.bitrixObject("result_error")
            #expect(errors.bitrixObject("missing").bitrixString("error") == "")
            #expect(errors.bitrixObject("missing").bitrixString("error_description") == "Not found")
            #expect(errors.bitrixObject("nope").bitrixString("error") == "ERROR_METHOD_NOT_FOUND")
            #expect(batch.bitrixObject("result_total").bitrixInt("page") == 4)
            #expect(reply.body.contains(#""result_next":[]"#), "an empty section is written as []")
            #expect(Set(batch.bitrixObject("result_time").keys) == ["upd", "page", "one"])
            #expect(batch.bitrixObject("result_time").bitrixObject("page")["operating"] != nil)
            #expect(simulator.deal(id: 101)?.title == "Из batch")
        }
    }

    @Test func anAllSuccessfulBatchWritesEmptyErrorsAsAList() async throws {
        try await BitrixTest.withSimulator { _, client in
            let reply = try await client.call("batch", json: #"{"cmd":["crm.deal.get?id=101","crm.deal.get?id=102"]}"#)
            #expect(reply.body.contains(#""result_error":[]"#))
            #expect(reply.body.contains(#""result_total":[]"#))
            // Numeric keys 0..n-1 make every section a JSON list, as PHP's json_encode does.
            let results = try #require(reply.resultObject["result"] as? [[String: Any]])
            #expect(results.compactMap { $0.bitrixString("ID") } == ["101", "102"])
        }
    }

    @Test func haltStopsAtTheFirstError() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let reply = try await client.call(
                "batch",
                form: PHPForm.encode([
                    ("halt", "1"),
                    ("cmd[a]", "crm.deal.update?id=101&fields[COMMENTS]=a"),
                    ("cmd[b]", "crm.deal.update?id=99999&fields[COMMENTS]=b"),
                    ("cmd[c]", "crm.deal.update?id=102&fields[COMMENTS]=c"),
                ]))
            #expect(reply.status == 200)
            let batch = reply.resultObject
            #expect(Set(batch.bitrixObject("result").keys) == ["a"])
            #expect(Set(batch.bitrixObject("result_error").keys) == ["b"])
            #expect(simulator.deal(id: 101)?.comments == "a")
            #expect(simulator.deal(id: 102)?.comments == nil, "nothing runs after the error")
            let carryOn = try await client.call(
                "batch",
                json: """
                    {"halt":false,"cmd":{"a":"crm.deal.get?id=99999","b":"crm.deal.update?id=102&fields[COMMENTS]=c"}}
                    """)
            #expect(carryOn.resultObject.bitrixObject("result")["b"] as? Bool == true)
            #expect(simulator.deal(id: 102)?.comments == "c")
        }
    }

    @Test func laterCommandsUseEarlierResults() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let reply = try await client.call(
                "batch",
                json: """
                    {"halt":1,"cmd":{
                      "add":"crm.deal.add?fields[TITLE]=Ссылка&fields[CATEGORY_ID]=2",
                      "read":"crm.deal.get?id=$result[add]",
                      "copy":"crm.deal.update?id=$result[add]&fields[COMMENTS]=stage $result[read][STAGE_ID]"}}
                    """)
            let results = reply.resultObject.bitrixObject("result")
            #expect(results["add"] as? Int == 106)
            #expect((results["read"] as? [String: Any])?.bitrixString("TITLE") == "Ссылка")
            #expect(simulator.deal(id: 106)?.comments == "stage C2:NEW")
        }
    }

    @Test func moreThan50CommandsFailTheExtraOnesOrTheWholeBatch() async throws {
        let commands = (0..<52).map { #""c\#($0)":"crm.deal.get?id=101""# }.joined(separator: ",")
        try await BitrixTest.withSimulator { simulator, client in
            let reply = try await client.call("batch", json: #"{"cmd":{\#(commands)}}"#)
            #expect(reply.status == 200)
            #expect(reply.resultObject.bitrixObject("result").count == 50)
            let errors = reply.resultObject.bitrixObject("result_error")
            #expect(Set(errors.keys) == ["c50", "c51"])
            #expect(errors.bitrixObject("c51").bitrixString("error") == "ERROR_BATCH_LENGTH_EXCEEDED")
            #expect(simulator.stats.batchCommands == 52)
        }
        var strict = BitrixTest.configuration()
        strict.limits.batchOverflow = .rejectBatch
        try await BitrixTest.withSimulator(strict) { _, client in
            let reply = try await client.call("batch", json: #"{"cmd":{\#(commands)}}"#)
            #expect(reply.status == 400)
            #expect(reply.error == "ERROR_BATCH_LENGTH_EXCEEDED" && reply.errorDescription == "Max batch length exceeded")
        }
    }

    @Test func aBatchInsideABatchIsNotAllowed() async throws {
        try await BitrixTest.withSimulator { _, client in
            let reply = try await client.call("batch", json: #"{"cmd":{"inner":"batch?cmd[x]=crm.deal.get%3Fid%3D101"}}"#)
            #expect(reply.status == 200)
            #expect(
                reply.resultObject.bitrixObject("result_error").bitrixObject("inner").bitrixString("error")
                    == "ERROR_BATCH_METHOD_NOT_ALLOWED")
            #expect(reply.body.contains(#""result":[]"#))
        }
    }
}
