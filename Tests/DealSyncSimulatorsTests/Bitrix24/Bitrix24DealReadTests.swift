import DealSyncSimulators
import Foundation
import Testing

/// `crm.deal.get` and `crm.deal.list`: shapes, not-found, paging by 50, `start=-1`, select, order, filters.
struct Bitrix24DealReadTests {
    typealias Default = BitrixTest.Default

    @Test func aDealIsStringsAndNullsWithDatesInThePortalZone() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let deal = try await client.call("crm.deal.get", json: #"{"id":101}"#).resultObject
            #expect(deal.bitrixString("ID") == "101")
            #expect(deal.bitrixString("CATEGORY_ID") == "2")
            #expect(deal.bitrixString("STAGE_ID") == Default.consultation)
            #expect(deal.bitrixString("STAGE_SEMANTIC_ID") == "P")
            #expect(deal.bitrixString("CLOSED") == "N")
            #expect(deal.bitrixString("OPPORTUNITY") == "15000.00")
            #expect(deal.bitrixString("CURRENCY_ID") == "RUB")
            #expect(deal.bitrixString("ASSIGNED_BY_ID") == "12")
            #expect(deal.bitrixString("UF_CRM_PROGRAM") == "41")
            #expect(deal.bitrixString("UF_CRM_SESSIONS") == "12")
            #expect(deal["ORIGINATOR_ID"] is NSNull && deal["ORIGIN_ID"] is NSNull && deal["COMMENTS"] is NSNull)
            let modified = try #require(deal.bitrixString("DATE_MODIFY"))
            #expect(modified.count == 25 && modified.hasSuffix("+03:00"), "\(modified)")
            let seconds = try #require(simulator.deal(id: 101)?.dateModify)
            let formatter = ISO8601DateFormatter()
            #expect(formatter.date(from: modified).map { Int($0.timeIntervalSince1970) } == seconds)

            let won = try await client.call("crm.deal.get", json: #"{"id":104}"#).resultObject
            #expect(won.bitrixString("STAGE_SEMANTIC_ID") == "S" && won.bitrixString("CLOSED") == "Y")
            #expect(won.bitrixString("UF_CRM_PROGRAM") == "", "get fills an unset user field with an empty string")
        }
    }

    @Test func aMissingDealIsHTTP400WithAnEmptyErrorCode() async throws {
        try await BitrixTest.withSimulator { _, client in
            let missing = try await client.call("crm.deal.get", json: #"{"id":99999}"#)
            #expect(missing.status == 400)
            #expect(missing.body == #"{"error":"","error_description":"Not found"}"#)
            let noID = try await client.call("crm.deal.get", json: "{}")
            #expect(noID.status == 400 && noID.error == "" && noID.errorDescription == "ID is not defined or invalid.")
            for method in ["crm.deal.update", "crm.deal.delete"] {
                let reply = try await client.call(method, json: #"{"id":99999,"fields":{"TITLE":"x"}}"#)
                #expect(reply.status == 400 && reply.error == "" && reply.errorDescription == "Not found", "\(method)")
            }
        }
    }

    @Test func listsPageBy50WithNextAndTotal() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            for index in 0..<120 { simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "Клиент \(index)", "CATEGORY_ID": "2"]) }
            var ids: [Int] = []
            var start: Int? = 0
            var pages = 0
            while let current = start {
                let reply = try await client.call("crm.deal.list", json: #"{"select":["ID"],"start":\#(current)}"#)
                #expect(reply.object.bitrixInt("total") == 125)
                ids += reply.resultList.compactMap { $0.bitrixString("ID").flatMap { Int($0) } }
                start = reply.object.bitrixInt("next")
                pages += 1
                #expect(reply.resultList.count == (start == nil ? 25 : 50))
            }
            #expect(pages == 3)
            #expect(ids == Array(101...225), "ID ascending by default, every deal once")
            // `start` names a page: 10 reads the first page again, 60 the second.
            let ten = try await client.call("crm.deal.list", query: "select[]=ID&start=10")
            #expect(ten.resultList.first?.bitrixString("ID") == "101" && ten.object.bitrixInt("next") == 50)
            let sixty = try await client.call("crm.deal.list", query: "select[]=ID&start=60")
            #expect(sixty.resultList.first?.bitrixString("ID") == "151")
        }
    }

    @Test func startMinusOneSkipsTheCountForKeysetPaging() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            for index in 0..<70 { simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "K\(index)"]) }
            var lastID = 0
            var seen: [Int] = []
            while true {
                let reply = try await client.call(
                    "crm.deal.list",
                    json: """
                        {"select":["ID"],"order":{"ID":"ASC"},"filter":{">ID":\(lastID)},"start":-1}
                        """)
                #expect(reply.object.bitrixInt("total") == 0)
                #expect(reply.object["next"] == nil)
                let page = reply.resultList.compactMap { $0.bitrixString("ID").flatMap { Int($0) } }
                seen += page
                guard page.count == 50, let last = page.last else { break }
                lastID = last
            }
            #expect(seen == Array(101...175))
        }
    }

    @Test func selectPicksFieldsAndUserFields() async throws {
        try await BitrixTest.withSimulator { _, client in
            let plain = try await client.call("crm.deal.list", json: #"{"filter":{"ID":101}}"#).resultList[0]
            #expect(plain["TITLE"] != nil && plain["DATE_MODIFY"] != nil && plain["UF_CRM_PROGRAM"] == nil)
            let picked = try await client.call("crm.deal.list", json: #"{"filter":{"ID":101},"select":["TITLE","UF_CRM_PROGRAM","NOPE"]}"#)
            #expect(picked.resultList[0].keys.sorted() == ["ID", "TITLE", "UF_CRM_PROGRAM"])
            let all = try await client.call("crm.deal.list", query: "filter[ID]=103&select[]=*&select[]=UF_*").resultList[0]
            #expect(all["STAGE_ID"] != nil && all["UF_CRM_CLIENT_PHONE"] is NSNull && all.bitrixString("UF_CRM_PROGRAM") == "43")
        }
    }

    @Test func orderByAnyFieldWithTiesBrokenByID() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            for title in ["Б", "А", "Б"] { simulator.createAsSalesperson(userID: 15, fields: ["TITLE": title, "OPPORTUNITY": "700"]) }
            let byAmount = try await client.call("crm.deal.list", json: #"{"order":{"OPPORTUNITY":"ASC"},"select":["ID"]}"#)
            #expect(byAmount.resultList.compactMap { $0.bitrixString("ID") } == ["103", "106", "107", "108", "105", "104", "101", "102"])
            let byTitle = try await client.call(
                "crm.deal.list", json: #"{"order":{"TITLE":"desc"},"filter":{"@ID":[106,107,108]},"select":["ID"]}"#)
            #expect(byTitle.resultList.compactMap { $0.bitrixString("ID") } == ["106", "108", "107"])
            // STAGE_ID sorts by the stage's place in the funnel, not by its text.
            let byStage = try await client.call(
                "crm.deal.list", json: #"{"order":{"STAGE_ID":"ASC"},"filter":{"CATEGORY_ID":2},"select":["ID"]}"#)
            #expect(byStage.resultList.compactMap { $0.bitrixString("ID") } == ["103", "101", "102", "104"])
        }
    }

    @Test func filterOperatorsOnStandardAndUserFields() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "Связанная", "ORIGINATOR_ID": "dealsync", "ORIGIN_ID": "md-77"])
            func ids(_ filter: String) async throws -> [String] {
                let reply = try await client.call("crm.deal.list", json: #"{"select":["ID"],"filter":\#(filter)}"#)
                #expect(reply.status == 200, "\(filter)")
                return reply.resultList.compactMap { $0.bitrixString("ID") }
            }
            #expect(try await ids(#"{">ID":103}"#) == ["104", "105", "106"])
            #expect(try await ids(#"{">=ID":103,"<ID":105}"#) == ["103", "104"])
            #expect(try await ids(#"{"<=ID":102}"#) == ["101", "102"])
            #expect(try await ids(#"{"@ID":[101,104,999]}"#) == ["101", "104"])
            #expect(try await ids(#"{"!@ID":[101,102,103,104]}"#) == ["105", "106"])
            #expect(try await ids(#"{"STAGE_ID":"C2:WON"}"#) == ["104"])
            #expect(try await ids(#"{"!STAGE_ID":"C2:WON","CATEGORY_ID":2}"#) == ["101", "102", "103"])
            #expect(try await ids(#"{"!=CATEGORY_ID":2}"#) == ["105", "106"])
            #expect(try await ids(#"{"%TITLE":"СИЛОВ"}"#) == ["102"], "substring, case-insensitive")
            #expect(try await ids(#"{"=%TITLE":"% — %"}"#) == ["101", "102", "103", "104"])
            #expect(try await ids(#"{"ORIGINATOR_ID":"dealsync","ORIGIN_ID":"md-77"}"#) == ["106"])
            #expect(try await ids(#"{"!ORIGIN_ID":"md-77"}"#) == ["101", "102", "103", "104", "105"], "a negation keeps NULLs")
            #expect(try await ids(#"{"ORIGIN_ID":""}"#) == ["101", "102", "103", "104", "105"], "an empty value matches NULL")
            #expect(try await ids(#"{"ASSIGNED_BY_ID":15}"#) == ["102", "104"])
            #expect(try await ids(#"{"UF_CRM_PROGRAM":42}"#) == ["102"])
            #expect(try await ids(#"{">UF_CRM_SESSIONS":10}"#) == ["101", "102"], "a double compares as a number")
            #expect(try await ids(#"{"NO_SUCH_FIELD":"x","ID":101}"#) == ["101"], "an unknown field is ignored")
            let scalar = try await client.call("crm.deal.list", json: #"{"filter":"ID=1"}"#)
            #expect(scalar.status == 400 && scalar.errorDescription == "Parameter 'filter' must be array.")
        }
    }

    /// Several deals modified within one second: an incremental pull with `>=DATE_MODIFY` sees them all, and the
    /// boundary second comes back again on the next pull (de-duplication is the caller's job).
    @Test func dateModifyFiltersWithTiesInOneSecond() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let base = simulator.now + 60
            simulator.freezeClock(at: base)
            for id in [103, 101, 102] { simulator.editAsSalesperson(dealID: id, userID: 12, fields: ["COMMENTS": "tie"]) }
            simulator.freezeClock(at: base + 1)
            simulator.editAsSalesperson(dealID: 104, userID: 15, fields: ["COMMENTS": "later"])
            let watermark = try #require(
                try await client.call("crm.deal.get", json: #"{"id":101}"#).resultObject.bitrixString("DATE_MODIFY"))
            let pull = try await client.call(
                "crm.deal.list",
                json: """
                    {"filter":{">=DATE_MODIFY":"\(watermark)"},"order":{"DATE_MODIFY":"ASC","ID":"ASC"},"select":["ID","DATE_MODIFY"]}
                    """)
            #expect(pull.resultList.compactMap { $0.bitrixString("ID") } == ["101", "102", "103", "104"])
            let stamps = pull.resultList.compactMap { $0.bitrixString("DATE_MODIFY") }
            #expect(Set(stamps.prefix(3)).count == 1 && stamps[3] != stamps[0], "three share one second")
            let strict = try await client.call("crm.deal.list", json: #"{"filter":{">DATE_MODIFY":"\#(watermark)"},"select":["ID"]}"#)
            #expect(strict.resultList.compactMap { $0.bitrixString("ID") } == ["104"])
            // The same instant written in UTC and in the portal's site format filters alike.
            let utc = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(base)))
            let inUTC = try await client.call("crm.deal.list", json: #"{"filter":{">=DATE_MODIFY":"\#(utc)"},"select":["ID"]}"#)
            #expect(inUTC.resultList.count == 4)
            let day = watermark.prefix(10).split(separator: "-")
            let siteFormat = "\(day[2]).\(day[1]).\(day[0]) \(watermark.dropFirst(11).prefix(8))"
            let inSiteFormat = try await client.call(
                "crm.deal.list", json: #"{"filter":{">DATE_MODIFY":"\#(siteFormat)"},"select":["ID"]}"#)
            #expect(inSiteFormat.resultList.compactMap { $0.bitrixString("ID") } == ["104"], "\(siteFormat)")
        }
    }
}
