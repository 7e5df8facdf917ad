import AsyncHTTPClient
import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

/// Bitrix24: id-only form events checked by `application_token`, `crm.deal.list` polling, `batch` writes, the
/// leaky-bucket and operating-time limits, inbound-webhook or OAuth authentication.
public final class Bitrix24Connector: Connector {
    public let config: ConnectorConfig
    public let mapping: Mapping
    let client: Bitrix24Client
    public let limiter: RateLimiter
    let logger: Logger
    let metadata = Bitrix24MetadataCache()

    /// The deal events dealsync records; others are acknowledged and ignored.
    static let dealEvents: Set<String> = ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE", "ONCRMDEALMOVETOCATEGORY"]

    /// `pacing` is the clock the operating-time budget waits on (real time unless a test moves a simulator's).
    public init(
        config: ConnectorConfig, mapping: Mapping, client httpClient: HTTPClient, credentials: (any CredentialStore)?,
        limiter: RateLimiter? = nil, logger: Logger, oauthCheckpoint: (@Sendable (String) throws -> Void)? = nil,
        pacing: PacingClock = .continuous
    ) {
        self.config = config
        self.mapping = mapping
        self.logger = logger
        let limiter = limiter ?? RateLimiter(config.rateLimit)
        self.limiter = limiter
        let transport = HTTPTransport(client: httpClient, logger: logger)
        var session: OAuthSession?
        if case .oauth(let oauth) = config.auth {
            let timeout = config.delivery.requestTimeout
            session = OAuthSession(
                connector: config.id, store: credentials ?? MemoryCredentialStore(), initialRefreshToken: oauth.initialRefreshToken,
                refresher: { refresh in try await Bitrix24Client.refresh(refresh, oauth: oauth, transport: transport, timeout: timeout) },
                checkpoint: oauthCheckpoint)
        }
        self.client = Bitrix24Client(
            config: config, transport: transport, limiter: limiter, session: session, logger: logger,
            pacing: pacing)
    }

    public func remapped(to mapping: Mapping) -> any Connector { Bitrix24Connector(self, mapping: mapping) }

    private init(_ other: Bitrix24Connector, mapping: Mapping) {
        self.config = other.config
        self.mapping = mapping
        self.client = other.client
        self.limiter = other.limiter
        self.logger = other.logger
    }

    /// The user our writes are made as (`MODIFY_BY_ID` of our own changes), when known.
    var integrationUser: String? {
        if case .inboundWebhook(let user, _) = config.auth { return String(user) }
        return nil
    }

    // MARK: Events

    /// Bitrix24 signs nothing: `auth[application_token]` must equal the configured token (constant time), and
    /// `auth[member_id]` / `auth[domain]` the configured ones when set.
    ///
    /// The token is found by a one-pass scan of the raw body before the form is parsed, so a body from someone
    /// without it costs no more than reading it; the parsed form must then hold the same token. The stored body
    /// has its credentials blanked (``storedCredentialPaths``): nothing at rest holds the portal's token.
    public func accept(_ webhook: WebhookRequest) throws(WebhookRejection) -> InboxItem {
        guard case .applicationToken(let token, let memberID, let domain) = config.webhook else {
            throw WebhookRejection(.notFound, "connector takes no events")
        }
        let bytes = [UInt8](webhook.body)
        guard let scanned = PHPForm.scanValue(of: "auth[application_token]", in: bytes), ConstantTime.equals(scanned, token.reveal()) else {
            throw WebhookRejection(.unauthorized, "application_token does not match")
        }
        let form: PHPForm.Map
        do {
            form = try PHPForm.parse(bytes: bytes)
        } catch {
            throw WebhookRejection(.malformed, "not a form body: \(error.description)")
        }
        guard let given = form["auth"]?["application_token"]?.string, ConstantTime.equals(given, token.reveal()) else {
            throw WebhookRejection(.unauthorized, "application_token does not match")
        }
        if let memberID, form["auth"]?["member_id"]?.string != memberID {
            throw WebhookRejection(.unauthorized, "member_id does not match")
        }
        if let domain, form["auth"]?["domain"]?.string != domain {
            throw WebhookRejection(.unauthorized, "domain does not match")
        }
        guard let event = form["event"]?.string else { throw WebhookRejection(.malformed, "no event in the form") }
        guard Self.dealEvents.contains(event.uppercased()) else {
            throw WebhookRejection(.ignored, "event \(event) is not synced")
        }
        guard let id = form["data"]?["FIELDS"]?["ID"]?.string, Int64(id) != nil else {
            throw WebhookRejection(.malformed, "no numeric data[FIELDS][ID]")
        }
        let ts = form["ts"]?.string ?? "0"
        let stored = PHPForm.blankingValues(at: Self.storedCredentialPaths, in: bytes)
        // The token anywhere else (inside another field or name, encoded or not) would be stored: such a body is
        // not what Bitrix24 sends. The blanked body must still be a form, so that its fields can be searched.
        let secret = token.reveal()
        guard let rest = try? PHPForm.flatten(PHPForm.parse(bytes: stored)),
            !rest.contains(where: { $0.0.contains(secret) || $0.1.contains(secret) }),
            Data(stored).range(of: Data(secret.utf8)) == nil
        else {
            throw WebhookRejection(.malformed, "application_token repeated outside auth[application_token]")
        }
        return InboxItem(
            connector: config.id, dedupeKey: "event:\(event.uppercased()):\(id):\(ts)", source: .webhook,
            contentType: "application/x-www-form-urlencoded", body: Data(stored))
    }

    /// Credentials an event carries (application events add the installing user's OAuth tokens): checked or
    /// useless to dealsync, and blanked before the body is stored.
    static let storedCredentialPaths: Set<[String]> = [
        ["auth", "application_token"], ["auth", "access_token"], ["auth", "refresh_token"],
    ]

    public func decode(_ row: InboxRow) throws -> DecodeOutcome {
        switch row.item.source {
        case .webhook:
            let form = try PHPForm.parse(String(decoding: row.item.body, as: UTF8.self))
            guard let event = form["event"]?.string?.uppercased(), let id = form["data"]?["FIELDS"]?["ID"]?.string else {
                throw DecodeError("no event or data[FIELDS][ID]")
            }
            if event == "ONCRMDEALDELETE" {
                let stamp = form["ts"]?.string.flatMap(Int64.init).map { SourceStamp(seconds: $0) }
                return .observations([Observation(connector: config.id, side: .crm, recordID: id, action: .delete, stamp: stamp)])
            }
            // The event carries only the id: the deal is read before anything is decided.
            return .fetch([FetchRequest(connector: config.id, recordID: id)])
        case .kafka:
            throw DecodeError("Bitrix24 does not publish to Kafka")
        case .poll, .fetch, .refetch, .replay:
            guard let json = JSONValue.parse(row.item.body), let deal = Bitrix24Deal.parse(json, mapping: mapping) else {
                throw DecodeError("not a Bitrix24 deal")
            }
            guard deal.categoryID == nil || deal.categoryID == mapping.pipeline else {
                return .ignore("deal \(deal.id) is in funnel \(deal.categoryID ?? -1), not \(mapping.pipeline)")
            }
            return .observations([
                Observation(
                    connector: config.id, side: .crm, recordID: deal.id, fields: deal.fields,
                    stamp: deal.modifiedAt.map { SourceStamp(seconds: $0) }, linkedMasterID: deal.linkedMasterID,
                    byIntegration: integrationUser != nil && deal.modifiedBy == integrationUser, isComplete: true)
            ])
        }
    }

    func item(for deal: JSONValue, source: InboxItem.Source, lineage: UUID) -> InboxItem? {
        guard let id = deal["ID"]?.text else { return nil }
        let modified = deal["DATE_MODIFY"]?.text ?? ""
        return InboxItem(
            connector: config.id, dedupeKey: ContentKey.record("deal", id: id, stamp: modified, body: deal), source: source,
            contentType: "application/json", body: deal.data(), lineageID: lineage)
    }

    // MARK: Reading

    /// Reads deals by id, up to 50 `crm.deal.get` calls in one `batch` (one tick of the leaky bucket).
    public func fetch(_ recordIDs: [String], lineage: UUID) async throws -> [InboxItem] {
        var items: [InboxItem] = []
        for start in stride(from: 0, to: recordIDs.count, by: 50) {
            let chunk = Array(recordIDs[start..<min(start + 50, recordIDs.count)])
            var commands: [String: JSONValue] = [:]
            for (index, id) in chunk.enumerated() {
                commands[Self.key(index)] = .string(Bitrix24Deal.command("crm.deal.get", [("id", id)]))
            }
            let answer = try await client.call("batch", .object(["halt": .number("0"), "cmd": .object(commands)]), lineage: lineage)
            guard answer.status == 200, let results = answer.result?["result"] else { throw client.failure(answer, "batch crm.deal.get") }
            // A deleted deal answers "Not found" and is simply absent; any other refusal (the operating limit) means
            // the deal was not read, and the fetch must be tried again rather than the deal taken for gone.
            let errors = Self.commandErrors(answer.result?["result_error"])
            if let (_, error) = errors.first(where: { !($0.value.code.isEmpty && $0.value.description.lowercased().contains("not found")) })
            {
                throw ConnectorError(status: 200, "batch crm.deal.get: \(error.code.isEmpty ? error.description : error.code)")
            }
            for index in chunk.indices {
                // A deleted deal answers "Not found" in result_error: it is simply absent.
                if let deal = results[Self.key(index)], deal.object != nil, let item = item(for: deal, source: .fetch, lineage: lineage) {
                    items.append(item)
                }
            }
        }
        return items
    }

    struct Cursor: Codable {
        var from: String?
        var start = 0
    }

    /// Deals modified at or after `millis`.
    public func pollCursor(startingAt millis: Int64) -> String {
        let cursor = Cursor(from: Timestamp.iso8601(millis: millis), start: 0)
        return String(decoding: (try? JSONEncoder().encode(cursor)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// `crm.deal.list` with `filter[>=DATE_MODIFY]` and `order {DATE_MODIFY: ASC, ID: ASC}`, pages of 50.
    ///
    /// Keyset paging on DATE_MODIFY: each page starts again at the newest second seen (`start` moves only
    /// while more than a page of deals shares that second), so a deal modified during a sweep is never skipped;
    /// the inbox de-duplicates re-read deals by `deal:<id>:<DATE_MODIFY>`.
    public func poll(from cursorText: String?) async throws -> PollResult {
        var cursor = cursorText.flatMap { try? JSONDecoder().decode(Cursor.self, from: Data($0.utf8)) } ?? Cursor()
        var filter: [String: JSONValue] = ["CATEGORY_ID": .number(String(mapping.pipeline))]
        if let from = cursor.from { filter[">=DATE_MODIFY"] = .string(from) }
        let answer = try await client.call(
            "crm.deal.list",
            .object([
                "filter": .object(filter), "order": .object(["DATE_MODIFY": .string("ASC"), "ID": .string("ASC")]),
                "select": .array([.string("*"), .string("UF_*")]), "start": .number(String(cursor.start)),
            ]))
        guard answer.status == 200, let deals = answer.result?.array else { throw client.failure(answer, "crm.deal.list") }
        let lineage = UUID()
        let items = deals.compactMap { item(for: $0, source: .poll, lineage: lineage) }
        let stamps = deals.compactMap { $0["DATE_MODIFY"]?.string }
        let newest = stamps.max { (Timestamp.parseMillis($0) ?? 0) < (Timestamp.parseMillis($1) ?? 0) }
        var hasMore = false
        if deals.count >= 50, let newest {
            if newest != cursor.from {
                cursor = Cursor(from: newest, start: 0)
            } else {
                cursor.start += 50
            }
            hasMore = true
        } else if let newest {
            let overlap = config.poll.overlap.components.seconds * 1000
            let millis = (Timestamp.parseMillis(newest) ?? 0) - overlap
            cursor = Cursor(from: Timestamp.iso8601(millis: millis), start: 0)
        } else {
            cursor.start = 0
        }
        let text = String(decoding: (try? JSONEncoder().encode(cursor)) ?? Data("{}".utf8), as: UTF8.self)
        return PollResult(items: items, cursor: text, hasMore: hasMore)
    }
}
