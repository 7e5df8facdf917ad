import DealSyncCore
import Foundation

extension Bitrix24Connector: AccountReading {
    /// The funnel's deals in `ID` order: one `crm.deal.list` for the first page of 50 and the total, then `batch`
    /// calls of up to 50 list pages each (2,500 deals per call, one tick of the leaky bucket). A command refused in
    /// a batch (its operating limit) fails the read, which the caller asks for again.
    public func readAccount(progress: @Sendable (Int) -> Void) async throws -> (items: [InboxItem], calls: Int) {
        let lineage = UUID()
        func pairs(start: Int) -> [(String, String)] {
            [
                ("filter[CATEGORY_ID]", String(mapping.pipeline)), ("order[ID]", "ASC"), ("select[0]", "*"), ("select[1]", "UF_*"),
                ("start", String(start)),
            ]
        }
        let first = try await client.call(
            "crm.deal.list",
            .object([
                "filter": .object(["CATEGORY_ID": .number(String(mapping.pipeline))]), "order": .object(["ID": .string("ASC")]),
                "select": .array([.string("*"), .string("UF_*")]), "start": .number("0"),
            ]), lineage: lineage)
        guard first.status == 200, let deals = first.result?.array else { throw client.failure(first, "crm.deal.list") }
        var calls = 1
        var items = deals.compactMap { item(for: $0, source: .poll, lineage: lineage) }
        progress(items.count)
        let total = first.json["total"]?.text.flatMap(Int.init) ?? deals.count
        var starts = Array(stride(from: Self.listPage, to: total, by: Self.listPage))[...]
        while !starts.isEmpty {
            let chunk = Array(starts.prefix(50))
            starts = starts.dropFirst(chunk.count)
            var commands: [String: JSONValue] = [:]
            for (index, start) in chunk.enumerated() {
                commands[Self.key(index)] = .string(Bitrix24Deal.command("crm.deal.list", pairs(start: start)))
            }
            let answer = try await client.call("batch", .object(["halt": .number("0"), "cmd": .object(commands)]), lineage: lineage)
            calls += 1
            guard answer.status == 200, let results = answer.result?["result"] else { throw client.failure(answer, "batch crm.deal.list") }
            if let (_, error) = Self.commandErrors(answer.result?["result_error"]).first {
                throw ConnectorError(status: 503, "batch crm.deal.list: \(error.code.isEmpty ? error.description : error.code)")
            }
            for index in chunk.indices {
                items += (results[Self.key(index)]?.array ?? []).compactMap { item(for: $0, source: .poll, lineage: lineage) }
            }
            progress(items.count)
        }
        return (items, calls)
    }

    /// Deals per `crm.deal.list` page.
    static let listPage = 50
}
