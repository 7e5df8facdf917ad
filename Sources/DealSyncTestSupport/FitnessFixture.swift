/// The fitness club on Bitrix24 that the connector, gateway and CLI tests sync: its stage matrix, managers and
/// connector, written once.
public enum FitnessFixture {
    /// The portal's inbound webhook code (a secret in a real configuration).
    public static let webhookCode = "x7k2m9q4w1e8r5t3"

    /// The club's deal category 2, stage by stage, and its two managers: the end of a fitness mapping.
    public static let stagesAndOwners = """
        stages:
          lead: ["C2:NEW"]
          qualified: ["C2:PREPARATION"]
          proposal: ["C2:PREPAYMENT_INVOICE"]
          won: ["C2:EXECUTING"]
          active: ["C2:FINAL_INVOICE"]
          closed: ["C2:WON"]
          lost: ["C2:LOSE"]
        owners:
          - {master: u-maria, crm: 12}
          - {master: u-igor, crm: 15}
        """

    /// The fitness connector at `url` through the portal's inbound webhook, its events checked by `token`
    /// (and `memberID`, when given); `extra` lines (poll, delivery, …) follow.
    public static func connector(url: String, token: String, memberID: String? = nil, extra: [String] = []) -> String {
        let member = memberID.map { "member_id: \($0), " } ?? ""
        return
            ([
                "id: fitness", "kind: bitrix24", "base_url: \(url)", "mapping: fitness", "master_account: acc-fitness", "auth:",
                "  webhook: {user_id: 1, code: \(webhookCode)}",
                "webhook: {application_token: \(token), \(member)domain: fitcoach.bitrix24.ru}",
            ] + extra).joined(separator: "\n")
    }
}
