/// One method call, top-level or a `batch` command: its name, parameters and caller.
struct BitrixCall: Sendable {
    /// Lowercase, without `.json` (`crm.deal.list`).
    var method: String
    var params: QueryForm.Map
    var caller: BitrixCaller

    /// `crm.deal.list.json` → `crm.deal.list`.
    static func methodName(_ raw: String) -> String {
        let lower = raw.lowercased()
        return lower.hasSuffix(".json") ? String(lower.dropLast(5)) : lower
    }
}
