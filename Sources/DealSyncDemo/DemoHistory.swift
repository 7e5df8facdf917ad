import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncGateway
import DealSyncStore
import Logging

/// The demo's last chapter: one deal's story as `dealsync history DEAL --short` tells it.
enum DemoHistory {
    static func tell(dealID: String, configuration: Configuration, database: Database, timeline: Timeline, logger: Logger) async throws {
        timeline.chapter("8. The story of deal \(dealID), as `dealsync history \(dealID) --short` tells it")
        let history = DealHistory(database: database, logger: logger)
        guard let subject = try await history.subject(masterDealID: dealID) else {
            timeline.check("dealsync knows deal \(dealID)", false)
            return
        }
        let records = try await history.read(subject, masterConnector: configuration.masterDeal?.id ?? "masterdeal")
        // The connectors only decode stored bodies here; nothing is called.
        let registry = ConnectorRegistry(configuration: configuration, client: HTTPTransport.sharedClient, credentials: nil, logger: logger)
        let story = DealTimelineBuilder(configuration: configuration) { try registry.decode($0) }.build(records, subject: subject)
        timeline.write(story.text(short: true))
        let kinds = Set(story.entries.map(\.kind))
        timeline.check(
            "the history shows its observations, decisions, writes, the dead letter and its replay in time order",
            kinds.isSuperset(of: [.observation, .decision, .write, .deadLetter, .replay])
                && story.entries.map(\.at) == story.entries.map(\.at).sorted())
    }
}
