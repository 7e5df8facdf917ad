import Foundation

extension MasterDealSimulator {
    /// A position in the (`updated_at`, `id`) order of `GET /v1/deals`; the opaque `cursor` encodes one.
    ///
    /// A page continues strictly after its cursor, so deals sharing one `updated_at` are each returned once.
    struct PageCursor: Sendable, Hashable, Comparable {
        var updatedAt: Int64
        var id: String

        init(updatedAt: Int64, id: String) {
            self.updatedAt = updatedAt
            self.id = id
        }

        init(_ deal: Deal) {
            self.init(updatedAt: deal.updatedAt, id: deal.id)
        }

        static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.updatedAt, lhs.id) < (rhs.updatedAt, rhs.id)
        }

        /// base64url(`c1|<millis>|<id>`), without padding.
        var token: String {
            Data("c1|\(updatedAt)|\(id)".utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }

        /// Decodes a token this service issued; nil for anything else.
        init?(token: String) {
            var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
            guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else {
                return nil
            }
            let parts = text.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "c1", let millis = Int64(parts[1]), !parts[2].isEmpty else {
                return nil
            }
            self.init(updatedAt: millis, id: String(parts[2]))
        }
    }

    /// Where a page starts.
    enum PageStart: Sendable, Equatable {
        case beginning
        /// `updated_since`, inclusive.
        case updatedSince(Int64)
        /// Strictly after a cursor.
        case after(PageCursor)
    }

    /// One page of deals in (`updated_at`, `id`) order, and the cursor of the next page (nil at the end).
    static func page(of deals: some Sequence<Deal>, from start: PageStart, limit: Int) -> (items: [Deal], next: String?) {
        let ordered = deals.filter { deal in
            switch start {
            case .beginning: true
            case .updatedSince(let millis): deal.updatedAt >= millis
            case .after(let cursor): PageCursor(deal) > cursor
            }
        }.sorted { PageCursor($0) < PageCursor($1) }
        let items = Array(ordered.prefix(limit))
        let next = ordered.count > limit ? items.last.map { PageCursor($0).token } : nil
        return (items, next)
    }
}
