import Foundation

/// A raw payload to store before anything is acknowledged: a webhook body, a polled record, a fetched record.
public struct InboxItem: Sendable, Equatable {
    public enum Source: String, Sendable, Codable {
        case webhook, poll, fetch, refetch, replay
        /// A message from a Kafka topic (MasterDeal's events on the bus).
        case kafka
    }

    public var connector: String
    /// Unique per connector: a duplicate delivery of the same payload is stored once.
    public var dedupeKey: String
    public var source: Source
    public var headers: [String: String]
    public var contentType: String?
    public var body: Data
    public var lineageID: UUID

    public init(
        connector: String, dedupeKey: String, source: Source, headers: [String: String] = [:],
        contentType: String? = nil, body: Data, lineageID: UUID = UUID()
    ) {
        self.connector = connector
        self.dedupeKey = dedupeKey
        self.source = source
        self.headers = headers
        self.contentType = contentType
        self.body = body
        self.lineageID = lineageID
    }
}

/// A stored inbox row, as the processor reads it.
public struct InboxRow: Sendable, Equatable {
    public var id: Int64
    public var item: InboxItem
    public var attempts: Int
    public var receivedAt: Date

    public init(id: Int64, item: InboxItem, attempts: Int = 0, receivedAt: Date = Date()) {
        self.id = id
        self.item = item
        self.attempts = attempts
        self.receivedAt = receivedAt
    }
}
