import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

extension MasterDealConnector {
    /// The poll position: the newest `updated_at` seen and, mid-sweep, the page cursor.
    struct Cursor: Codable {
        var since: String?
        var page: String?
        var newest: Int64?
    }

    /// Deals updated at or after `millis`.
    public func pollCursor(startingAt millis: Int64) -> String {
        let cursor = Cursor(since: Timestamp.iso8601(millis: millis), page: nil, newest: nil)
        return String(decoding: (try? JSONEncoder().encode(cursor)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// `GET /v1/deals?updated_since=…&cursor=…`: pages in (updated_at, id) order. The next sweep starts an
    /// overlap before the newest `updated_at` seen, so deals sharing a boundary instant are read again and
    /// de-duplicated by the inbox (`deal:<id>:v<version>`), never skipped.
    public func poll(from cursorText: String?) async throws -> PollResult {
        var cursor = cursorText.flatMap { try? JSONDecoder().decode(Cursor.self, from: Data($0.utf8)) } ?? Cursor()
        var path = "/v1/deals?limit=200"
        if let page = cursor.page {
            path += "&cursor=\(Self.query(page))"
        } else if let since = cursor.since {
            path += "&updated_since=\(Self.query(since))"
        }
        let response = try await get(path, lineage: nil)
        guard response.status == 200, let list = JSONValue.parse(response.body), let deals = list["items"]?.array else {
            throw ConnectorError(status: response.status, "GET /v1/deals")
        }
        let lineage = UUID()
        var items: [InboxItem] = []
        for deal in deals {
            guard let parsed = MasterDealRecord.parse(deal) else { continue }
            items.append(
                InboxItem(
                    connector: config.id, dedupeKey: "deal:\(parsed.id):v\(parsed.version ?? 0)", source: .poll,
                    contentType: "application/json", body: deal.data(), lineageID: lineage))
            if let millis = parsed.stamp?.millis { cursor.newest = max(cursor.newest ?? millis, millis) }
        }
        let next = list["next_cursor"]?.string
        cursor.page = next
        if next == nil, let newest = cursor.newest {
            let (seconds, attoseconds) = config.poll.overlap.components
            let overlapMillis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
            cursor.since = Timestamp.iso8601(millis: newest - overlapMillis)
        }
        let text = String(decoding: (try? JSONEncoder().encode(cursor)) ?? Data("{}".utf8), as: UTF8.self)
        return PollResult(items: items, cursor: text, hasMore: next != nil)
    }
}
