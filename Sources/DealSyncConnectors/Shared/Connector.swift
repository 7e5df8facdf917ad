import DealSyncCore
import Foundation

/// A system dealsync syncs with, as the gateway uses it: accept its webhooks, decode what was stored, read
/// records, poll for changes and deliver writes.
///
/// amoCRM, Bitrix24 and MasterDeal each implement it; the gateway never looks inside one.
public protocol Connector: Sendable {
    var config: ConnectorConfig { get }

    /// The client-side rate limiter every call to this connector's API waits on.
    var limiter: RateLimiter { get }

    /// Checks a webhook's authenticity and turns it into the item to store. Pure: nothing is stored here.
    func accept(_ webhook: WebhookRequest) throws(WebhookRejection) -> InboxItem

    /// Decodes a stored row (a webhook body, a polled or fetched record) into observations. Pure.
    func decode(_ row: InboxRow) throws -> DecodeOutcome

    /// Reads records by id, for id-only events and refetches; each comes back as an item of source `fetch`.
    func fetch(_ recordIDs: [String], lineage: UUID) async throws -> [InboxItem]

    /// Reads what changed since `cursor` (a connector-defined JSON text, `nil` the first time).
    func poll(from cursor: String?) async throws -> PollResult

    /// The cursor of a poll that reads what changed at or after `millis` (unix milliseconds): where a connector
    /// that was never polled starts (`poll.start`). Pure.
    func pollCursor(startingAt millis: Int64) -> String

    /// Delivers writes and returns one outcome per delivery, in order.
    func deliver(_ deliveries: [Delivery]) async -> [DeliveryOutcome]

    /// This connector deciding by another mapping (a configuration reload): the same HTTP client, rate limiter and
    /// OAuth session, because a single-use refresh token must have exactly one refresher.
    func remapped(to mapping: Mapping) -> any Connector
}

extension Connector {
    /// A connector without a mapping (MasterDeal) stays as it is.
    public func remapped(to mapping: Mapping) -> any Connector { self }
}

/// An inbound webhook as the route received it.
public struct WebhookRequest: Sendable {
    /// The path segment after the connector id, when the connector puts a secret there (amoCRM).
    public var pathSecret: String?
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: Data
    public var receivedAt: Date

    public init(pathSecret: String? = nil, headers: [String: String], body: Data, receivedAt: Date = Date()) {
        self.pathSecret = pathSecret
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
        self.body = body
        self.receivedAt = receivedAt
    }
}

/// Why a webhook is refused. `reason` names the problem, never a secret or the payload.
public struct WebhookRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Unknown connector or wrong URL secret: 404, as if nothing were there.
        case notFound = "not_found"
        /// Missing or wrong signature or token: 401.
        case unauthorized
        /// A stale signature timestamp: 401.
        case stale
        /// A body that cannot be what the connector sends: 400.
        case malformed
        /// Authentic, but nothing dealsync syncs (another Bitrix24 event): acknowledged with 200, not stored.
        case ignored
        /// A content type the connector does not post: 415.
        case unsupportedMediaType = "unsupported_media_type"
        /// A body over the limit: 413.
        case tooLarge = "too_large"
    }

    public var kind: Kind
    public var reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    /// The HTTP status the sender gets (the gateway answers with it: `WebhookRejection` is an `HTTPResponseError` there).
    public var statusCode: Int {
        switch kind {
        case .notFound: 404
        case .unauthorized, .stale: 401
        case .malformed: 400
        case .ignored: 200
        case .unsupportedMediaType: 415
        case .tooLarge: 413
        }
    }

    public var description: String { "\(kind.rawValue): \(reason)" }
}

/// One poll's result: the records to store, and the cursor to keep once they are stored.
public struct PollResult: Sendable {
    public var items: [InboxItem]
    public var cursor: String
    /// More pages are waiting: poll again right away.
    public var hasMore: Bool

    public init(items: [InboxItem], cursor: String, hasMore: Bool) {
        self.items = items
        self.cursor = cursor
        self.hasMore = hasMore
    }
}

/// Constant-time comparison for secrets and tokens.
public enum ConstantTime {
    public static func equals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        // The lengths are compared whole (a byte of their difference let lengths 256 apart, padded with NULs,
        // compare equal); every byte is still visited, so the time says nothing about where they differ.
        var difference = x.count == y.count ? 0 : 1
        for index in 0..<max(x.count, y.count) {
            let l = index < x.count ? x[index] : 0
            let r = index < y.count ? y[index] : 0
            difference |= Int(l ^ r)
        }
        return difference == 0
    }
}

/// A connector that reads its whole account faster than by paging its poll (Bitrix24 packs 50 list pages into one
/// `batch`): onboarding uses it when the connector has it.
public protocol AccountReading: Connector {
    /// Every record the connector syncs (the mapping's funnel), as polled items, and how many API calls it took;
    /// `progress` hears the records read so far.
    func readAccount(progress: @Sendable (Int) -> Void) async throws -> (items: [InboxItem], calls: Int)
}
