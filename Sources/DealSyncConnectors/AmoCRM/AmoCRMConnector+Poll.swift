import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

extension AmoCRMConnector {
    /// The poll position: leads updated at or after `from`; `page` > 1 only while more than a page of leads
    /// share the second `from`.
    struct Cursor: Codable {
        var from: Int64 = 0
        var page = 1
    }

    static let pageSize = 250

    /// Leads updated at or after `millis` (amoCRM's `updated_at` has whole seconds).
    public func pollCursor(startingAt millis: Int64) -> String {
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        return String(decoding: (try? JSONEncoder().encode(Cursor(from: seconds, page: 1))) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// `GET /api/v4/leads?filter[updated_at][from]=W&order[updated_at]=asc&limit=250&page=N`.
    ///
    /// Keyset paging on `updated_at`: each page starts again at the newest second seen, so a lead that moves
    /// while the sweep runs is never skipped and leads sharing a boundary second are read again (the inbox
    /// de-duplicates them by `lead:<id>:<updated_at>`). HTTP 204 means nothing changed.
    public func poll(from cursorText: String?) async throws -> PollResult {
        var cursor = cursorText.flatMap { try? JSONDecoder().decode(Cursor.self, from: Data($0.utf8)) } ?? Cursor()
        let path =
            "/api/v4/leads?filter[updated_at][from]=\(cursor.from)&order[updated_at]=asc&order[id]=asc&limit=\(Self.pageSize)&page=\(cursor.page)"
        let response = try await request(.GET, Self.encoded(path), lineage: nil)
        let lineage = UUID()
        var leads: [JSONValue] = []
        switch response.status {
        case 204:
            break
        case 200:
            guard let list = JSONValue.parse(response.body) else { throw ConnectorError(status: 200, "GET /api/v4/leads: not JSON") }
            leads = list["_embedded"]?["leads"]?.array ?? []
        default:
            throw ConnectorError(status: response.status, "GET /api/v4/leads")
        }
        let items = leads.compactMap { item(for: $0, source: .poll, lineage: lineage) }
        let stamps = leads.compactMap { $0["updated_at"]?.int64 }
        var hasMore = false
        if leads.count >= Self.pageSize, let last = stamps.max() {
            if last > cursor.from {
                cursor = Cursor(from: last, page: 1)
            } else {
                cursor.page += 1
            }
            hasMore = true
        } else {
            let newest = stamps.max() ?? cursor.from
            cursor = Cursor(from: max(cursor.from, newest - config.poll.overlap.components.seconds), page: 1)
        }
        let text = String(decoding: (try? JSONEncoder().encode(cursor)) ?? Data("{}".utf8), as: UTF8.self)
        return PollResult(items: items, cursor: text, hasMore: hasMore)
    }

    /// Reads leads by id, up to a page per request (`filter[id][]=…`); deleted or unknown leads are absent.
    public func fetch(_ recordIDs: [String], lineage: UUID) async throws -> [InboxItem] {
        var items: [InboxItem] = []
        for chunk in stride(from: 0, to: recordIDs.count, by: Self.pageSize).map({
            Array(recordIDs[$0..<min($0 + Self.pageSize, recordIDs.count)])
        }) {
            let filter = chunk.compactMap(Int64.init).map { "filter[id][]=\($0)" }.joined(separator: "&")
            let response = try await request(.GET, Self.encoded("/api/v4/leads?\(filter)&limit=\(Self.pageSize)"), lineage: lineage)
            switch response.status {
            case 204: continue
            case 200:
                let leads = JSONValue.parse(response.body)?["_embedded"]?["leads"]?.array ?? []
                items += leads.compactMap { item(for: $0, source: .fetch, lineage: lineage) }
            default:
                throw ConnectorError(status: response.status, "GET /api/v4/leads?filter[id]")
            }
        }
        return items
    }

    /// Finds the lead carrying `masterDealID` in the link field (after an uncertain create).
    func lookup(masterDealID: String, lineage: UUID) async throws -> String? {
        let query = masterDealID.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? masterDealID
        let response = try await request(.GET, Self.encoded("/api/v4/leads?query=\(query)&limit=50"), lineage: lineage)
        guard response.status == 200, let leads = JSONValue.parse(response.body)?["_embedded"]?["leads"]?.array else {
            if response.status == 204 { return nil }
            throw ConnectorError(status: response.status, "GET /api/v4/leads?query")
        }
        for lead in leads {
            if let parsed = AmoLeadJSON.parse(lead, linkFieldID: linkFieldID), parsed.linkedMasterID == masterDealID {
                return parsed.id
            }
        }
        return nil
    }

    /// What a query value may hold unescaped (RFC 3986 unreserved, ASCII only).
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// Percent-encodes the brackets amoCRM expects in query keys.
    static func encoded(_ path: String) -> String {
        path.replacingOccurrences(of: "[", with: "%5B").replacingOccurrences(of: "]", with: "%5D")
    }
}
