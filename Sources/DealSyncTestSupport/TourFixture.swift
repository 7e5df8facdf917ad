/// The travel agency every gateway and scenario test syncs: its amoCRM mapping and connector, and MasterDeal's
/// connector, written once; what a test changes is a parameter.
public enum TourFixture {
    /// The tour mapping: title (lww), amount (MasterDeal wins, roubles), stage (MasterDeal wins) and owner (lww),
    /// the agency's pipeline and two managers. `stageExtra` is appended inside the stage field's braces (e.g.
    /// `", repair: auto"`); `extraFields` (YAML lines indented by two spaces, each ending with a newline) follow
    /// the owner.
    public static func mapping(stageExtra: String = "", extraFields: String = "") -> String {
        """
        name: tour
        crm: amocrm
        pipeline: 7001000
        link_field: custom_fields.900001
        fields:
          title: {master: opportunity_name, crm: name, conflict: lww}
          amount:
            master: amount
            crm: price
            transform: {money: {currency: RUB}}
            conflict: {priority: master}
          stage: {master: stage, crm: status, transform: stage, conflict: {priority: master}\(stageExtra)}
          owner: {master: owner_id, crm: responsible_user_id, transform: owner, conflict: lww}
        \(extraFields)stages:
          lead: [{status: 7001001, name: Новый лид}]
          qualified: [{status: 7001002, name: Квалификация}, {status: 7001003, name: Прогрев}]
          proposal: [{status: 7001004, name: Предложение}]
          won: [{status: 7001006, name: Продажа}]
          active: [{status: 7001007, name: Сервис}]
          closed: [142]
          lost: [143]
        owners:
          - {master: u-olga, crm: 6001001, email: olga@example.com, name: Ольга}
          - {master: u-ivan, crm: 6001002, email: ivan@example.com, name: Иван}
        """
    }

    /// The amoCRM simulator's OAuth application, as the tour connector is configured with it.
    public static let oauthYAML = """
        auth:
          oauth:
            client_id: 5f1c9a52-7d3e-4b8a-9c61-2e0d4f7b8a19
            client_secret: sim-client-secret-0f4e8d2c7b6a
            redirect_uri: https://dealsync.example/oauth/amocrm
            refresh_token: def50200-sim-initial-refresh-token
        """

    /// The tour connector at `url`, its webhooks under `secret`; `extra` lines (poll, delivery, …) follow. A studio's
    /// tenants each run one under their own `id` and MasterDeal `account`.
    public static func connector(
        id: String = "tour", url: String, secret: String, account: String = "acc-tour", extra: [String] = []
    ) -> String {
        ([
            "id: \(id)", "kind: amocrm", "base_url: \(url)", "mapping: tour", "master_account: \(account)", oauthYAML,
            "webhook: {secret: \(secret)}",
        ] + extra).joined(separator: "\n")
    }

    /// MasterDeal's connector at `url`, polled every second and retried fast; `extra` lines follow.
    public static func masterDeal(url: String, token: String, secret: String, extra: [String] = []) -> String {
        ([
            "id: masterdeal", "kind: masterdeal", "base_url: \(url)", "auth: {bearer_token: \(token)}", "webhook: {secret: \(secret)}",
            "poll: {interval: 1s, overlap: 2s}", "delivery: {backoff_base: 100ms, backoff_cap: 1s}",
        ] + extra).joined(separator: "\n")
    }
}
