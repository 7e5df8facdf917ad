import DealSyncCore
import DealSyncStore
import Foundation

/// Turns what the store holds about one deal into its ``DealTimeline``. Pure: the inbox bodies are decoded by
/// the function it is given (the connectors' own decoders), nothing is read or written.
public struct DealTimelineBuilder: Sendable {
    public struct Filter: Sendable {
        /// Only entries at or after this time.
        public var since: Date?
        /// Only what concerns this mapped field (observations show only its keys).
        public var field: String?

        public init(since: Date? = nil, field: String? = nil) {
            self.since = since
            self.field = field
        }
    }

    let configuration: Configuration
    let decode: @Sendable (InboxRow) throws -> DecodeOutcome

    public init(configuration: Configuration, decode: @escaping @Sendable (InboxRow) throws -> DecodeOutcome) {
        self.configuration = configuration
        self.decode = decode
    }

    /// The field names the deal's connectors map, for checking `--field`.
    public func fieldNames(of subject: DealHistory.Subject) -> Set<String> {
        HistoryFields(configuration: configuration, connectors: subject.links.map(\.connector)).allFields
    }

    public func build(_ records: DealHistory.Records, subject: DealHistory.Subject, filter: Filter = Filter()) -> DealTimeline {
        var fields = HistoryFields(configuration: configuration, connectors: subject.links.map(\.connector))
        let master = fields.masterConnector
        let wanted = Set(subject.records(masterConnector: master).map { "\($0.connector)\u{0}\($0.recordID)" })
        let observations = decoded(records.inbox, wanted: wanted, lineages: Self.lineages(of: records))
        remember(records, observations: observations, in: &fields)

        var context = Context(
            fields: fields, filter: filter, links: Dictionary(records.links.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }))
        for (row, observation) in observations { context.observation(row, observation) }
        for entry in records.divergence { context.divergence(entry) }
        context.writes(records.outbox, divergence: records.divergence, observations: observations)
        for letter in records.deadLetters { context.deadLetter(letter) }
        for audit in records.audit { context.support(audit) }
        for link in records.links { context.link(link) }

        var entries = context.entries
        if let since = filter.since { entries = entries.filter { $0.at >= since } }
        entries = entries.enumerated().sorted { a, b in
            if a.element.at != b.element.at { return a.element.at < b.element.at }
            if a.element.kind.rank != b.element.kind.rank { return a.element.kind.rank < b.element.kind.rank }
            return a.offset < b.offset
        }.map(\.element)
        var notes: [String] = []
        if records.inboxScanTruncated {
            notes.append(
                "the search of inbox bodies stopped at \(DealHistory.inboxScanLimit) rows: older observations that caused nothing may be missing (use --since)"
            )
        }
        return DealTimeline(
            masterDealID: subject.masterDealID,
            records: records.links.map {
                .init(
                    connector: $0.connector, recordID: $0.recordID, state: $0.state, linkedAt: $0.createdAt,
                    endedAt: $0.state == "active" ? nil : $0.updatedAt)
            },
            fields: context.fieldsNow(records.fieldStates), entries: entries, notes: notes)
    }

    // MARK: Decoding the inbox

    /// One decoded observation (or an id-only event, or a row that could not be decoded) about the deal.
    struct Seen {
        var observation: DealSyncCore.Observation?
        var fetched: [String] = []
        var error: String?
    }

    static func lineages(of records: DealHistory.Records) -> Set<UUID> {
        var lineages = Set(records.outbox.map(\.lineageID))
        lineages.formUnion(records.deadLetters.map(\.lineageID))
        lineages.formUnion(records.divergence.compactMap(\.lineageID))
        return lineages
    }

    func decoded(_ inbox: [DealHistory.InboxEntry], wanted: Set<String>, lineages: Set<UUID>) -> [(DealHistory.InboxEntry, Seen)] {
        var result: [(DealHistory.InboxEntry, Seen)] = []
        for row in inbox {
            let item = InboxItem(
                connector: row.connector, dedupeKey: row.dedupeKey, source: InboxItem.Source(rawValue: row.source) ?? .webhook,
                headers: row.headers, contentType: row.contentType, body: row.body, lineageID: row.lineageID)
            do {
                switch try decode(InboxRow(id: row.id, item: item, receivedAt: row.receivedAt)) {
                case .observations(let observations):
                    // One amoCRM webhook may name a lead under several events (update and status) with one state.
                    var kept: [DealSyncCore.Observation] = []
                    for observation in observations where wanted.contains("\(observation.connector)\u{0}\(observation.recordID)") {
                        guard !kept.contains(observation) else { continue }
                        kept.append(observation)
                        result.append((row, Seen(observation: observation)))
                    }
                case .fetch(let requests):
                    let ids = requests.filter { wanted.contains("\($0.connector)\u{0}\($0.recordID)") }.map(\.recordID)
                    if !ids.isEmpty { result.append((row, Seen(observation: nil, fetched: ids))) }
                case .ignore:
                    continue
                }
            } catch {
                if lineages.contains(row.lineageID) { result.append((row, Seen(observation: nil, error: "cannot be decoded"))) }
            }
        }
        return result
    }

    /// Every personal value the timeline meets, before anything is written out.
    func remember(_ records: DealHistory.Records, observations: [(DealHistory.InboxEntry, Seen)], in fields: inout HistoryFields) {
        for (row, seen) in observations {
            for (key, value) in seen.observation?.fields ?? [:]
            where fields.isPersonal(field: fields.field(key: key, connector: row.connector)) {
                fields.remember(value)
            }
        }
        for write in records.outbox {
            for (key, value) in write.values where fields.isPersonal(field: fields.field(key: key, connector: write.target)) {
                fields.remember(value)
            }
        }
        for state in records.fieldStates where fields.isPersonal(field: state.field) {
            let s = state.state
            let values =
                [s.decided, s.master.known, s.crm.known, s.master.lastEdit, s.crm.lastEdit].compactMap { $0 }
                + s.master.pending.map(\.value) + s.crm.pending.map(\.value) + s.master.written + s.crm.written
            for value in values { fields.remember(value) }
        }
    }
}
