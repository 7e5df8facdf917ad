import Foundation

/// The account's fixed reference data (pipelines, users, custom fields, loss reasons) with lookups.
struct AmoCatalog: Sendable {
    let subdomain: String
    let accountID: Int
    let pipelines: [AmoCRMSimulator.Pipeline]
    let users: [AmoCRMSimulator.User]
    let customFields: [AmoCRMSimulator.CustomField]
    let lossReasons: [AmoCRMSimulator.LossReason]

    init(_ configuration: AmoCRMSimulator.Configuration) {
        subdomain = configuration.subdomain
        accountID = configuration.accountID
        pipelines = Self.withUnsorted(
            configuration.pipelines.map {
                AmoCRMSimulator.Pipeline(id: $0.id, name: $0.name, isMain: $0.isMain, statuses: $0.statuses)
            })
        users = configuration.users
        customFields = configuration.customFields
        lossReasons = configuration.lossReasons
    }

    /// Every amoCRM pipeline starts with its "unsorted" status (type 1, not editable); one configured without it gets
    /// one, numbered after the account's highest status id. A configured one is moved to the front.
    static func withUnsorted(_ pipelines: [AmoCRMSimulator.Pipeline]) -> [AmoCRMSimulator.Pipeline] {
        let closed = [AmoCRMSimulator.Status.won, AmoCRMSimulator.Status.lost]
        var nextID = (pipelines.flatMap { $0.statuses.map(\.id) }.filter { !closed.contains($0) }.max() ?? 0) + 1
        return pipelines.map { pipeline in
            var pipeline = pipeline
            if let index = pipeline.statuses.firstIndex(where: { $0.type == 1 }) {
                pipeline.statuses.insert(pipeline.statuses.remove(at: index), at: 0)
            } else {
                pipeline.statuses.insert(AmoCRMSimulator.Status.unsorted(id: nextID), at: 0)
                nextID += 1
            }
            return pipeline
        }
    }

    /// The public address the real account would have (`account[_links][self]` in webhooks).
    var accountURL: String { "https://\(subdomain).amocrm.ru" }

    var mainPipeline: AmoCRMSimulator.Pipeline? { pipelines.first { $0.isMain } ?? pipelines.first }

    func pipeline(_ id: Int) -> AmoCRMSimulator.Pipeline? { pipelines.first { $0.id == id } }

    func status(_ statusID: Int, in pipelineID: Int) -> AmoCRMSimulator.Status? {
        pipeline(pipelineID)?.statuses.first { $0.id == statusID }
    }

    /// The pipeline a status id belongs to when the writer names no pipeline (142/143: the main one).
    func pipelineContaining(status statusID: Int) -> AmoCRMSimulator.Pipeline? {
        if statusID == AmoCRMSimulator.Status.won || statusID == AmoCRMSimulator.Status.lost { return mainPipeline }
        return pipelines.first { $0.statuses.contains { $0.id == statusID } }
    }

    /// Where a lead lands when only its pipeline is given: the first status that is not "unsorted".
    func firstStatus(of pipeline: AmoCRMSimulator.Pipeline) -> Int {
        (pipeline.statuses.first { $0.type == 0 } ?? pipeline.statuses[0]).id
    }

    func user(_ id: Int) -> AmoCRMSimulator.User? { users.first { $0.id == id } }

    func field(_ id: Int) -> AmoCRMSimulator.CustomField? { customFields.first { $0.id == id } }

    func field(code: String) -> AmoCRMSimulator.CustomField? {
        customFields.first { $0.code?.caseInsensitiveCompare(code) == .orderedSame }
    }

    func lossReason(_ id: Int) -> AmoCRMSimulator.LossReason? { lossReasons.first { $0.id == id } }
}
