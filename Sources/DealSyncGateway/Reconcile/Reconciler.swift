import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Compares a CRM with MasterDeal, record by record, to find what webhooks and polls let slip: drift.
///
/// Two rhythms: records dealsync touched recently are compared again every `recheck`; every linked record is
/// compared once per `sweep_interval`. A difference that no work in flight explains and that lasts longer than
/// the grace period is drift: an open `drift` entry in the divergence log, repaired at once when the field says
/// `repair: auto`, and closed when the sides agree again. The reconciler's CRM calls go through a limiter of its
/// own at `budget_share` of the CRM's rate, on top of the CRM's limiter, so it never starves real sync.
public final class Reconciler: Service, Sendable {
    let initialCRM: any Connector
    let master: any Connector
    let initialMapping: Mapping
    let initialRepairs: DriftRepair
    /// The gateway's configuration, when it can be reloaded: the mapping compared by is the current one.
    let generations: CurrentGeneration?
    let links: LinkReader
    let drift: DriftStore
    let metrics: GatewayMetrics
    let logger: Logger
    let budget: RateLimiter
    let settings: ConnectorConfig.Reconcile
    /// When each unexplained difference was first seen: (link, field) → instant.
    private let candidates = Mutex<[String: ContinuousClock.Instant]>([:])
    private let lastSweep = Mutex<ContinuousClock.Instant?>(nil)
    /// The time the grace and the sweep interval are measured by (a test's manual clock, else `ContinuousClock`).
    let now: @Sendable () -> ContinuousClock.Instant

    init(
        crm: any Connector, master: any Connector, mapping: Mapping, repairs: DriftRepair, links: LinkReader, drift: DriftStore,
        metrics: GatewayMetrics, logger: Logger, settings: ConnectorConfig.Reconcile? = nil, generations: CurrentGeneration? = nil,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.now = now
        self.initialCRM = crm
        self.master = master
        self.initialMapping = mapping
        self.initialRepairs = repairs
        self.generations = generations
        self.links = links
        self.drift = drift
        self.metrics = metrics
        self.logger = logger
        self.settings = settings ?? crm.config.reconcile
        let rate = crm.config.rateLimit.requestsPerSecond * self.settings.budgetShare
        self.budget = RateLimiter(requestsPerSecond: max(rate, 0.01), burst: 1)
    }

    var connector: String { initialCRM.config.id }

    var crm: any Connector { generations?.current.registry.connector(connector) ?? initialCRM }
    var mapping: Mapping {
        guard let configuration = generations?.current.configuration else { return initialMapping }
        return configuration.mapping(for: initialCRM.config) ?? initialMapping
    }
    var repairs: DriftRepair { generations.map { DriftRepair(context: $0.current.sync) } ?? initialRepairs }

    public func run() async throws {
        guard settings.enabled else { return }
        // Reconcilers started together (a process with a hundred connectors) would compare in step, every recheck
        // at the same moment: each starts at a random point of its first interval, so their reads spread out.
        await pause(settings.recheck * Double.random(in: 0..<1))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let due = lastSweep.withLock { last in last.map { $0.duration(to: now()) >= settings.sweepInterval } ?? true }
                if due {
                    _ = try await sweep { _, _ in }
                } else {
                    try await checkRecent()
                }
            } catch  where Task.isCancelled || error is CancellationError {  // it may arrive wrapped, e.g. in a transaction error
                return
            } catch {
                logger.warning(
                    "reconciliation failed", metadata: ["connector": "\(connector)", "error": "\(String(describing: error).prefix(200))"])
            }
            await pause(settings.recheck)
        }
    }

    /// Compares the records dealsync touched within the recent window, a chunk at a time like a sweep: after a
    /// bulk import that is every record imported, and comparing them in one go read their field states all at once
    /// (911 MiB resident after 100,000 leads) and asked the CRM for all of them in one read, outside the budget.
    @discardableResult
    public func checkRecent() async throws -> SweepReport {
        try await checkInChunks(try await links.recentlyChanged(connector: connector, within: settings.recentWindow + settings.grace))
    }

    /// Records compared per CRM read (amoCRM's and Bitrix24's batch reads take 50 at once at least).
    static let chunk = 50

    /// Compares `records` ``chunk`` at a time (one budgeted CRM read each) until shutdown; `compared(done)` is
    /// called after each chunk.
    private func checkInChunks(_ records: [LinkReader.Link], compared: (Int) -> Void = { _ in }) async throws -> SweepReport {
        var report = SweepReport()
        for start in stride(from: 0, to: records.count, by: Self.chunk) {
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            let end = min(start + Self.chunk, records.count)
            report += try await check(Array(records[start..<end]))
            compared(end)
        }
        return report
    }

    /// Compares every linked record now; `progress(done, total)` is called after each chunk.
    public func sweep(progress: @Sendable (Int, Int) -> Void) async throws -> SweepReport {
        let started = ContinuousClock.now
        let all = try await links.all(connector: connector, pairsOnly: true)
        metrics.sweepProgress(connector, 0)
        let report = try await checkInChunks(all) { done in
            progress(done, all.count)
            metrics.sweepProgress(connector, Double(done) / Double(max(all.count, 1)))
        }
        lastSweep.withLock { $0 = now() }
        metrics.sweepCompleted(connector, duration: started.duration(to: .now))
        return report
    }

    public struct SweepReport: Sendable, Equatable {
        public var compared = 0
        public var opened = 0
        public var repaired = 0
        public var closed = 0

        static func += (lhs: inout SweepReport, rhs: SweepReport) {
            lhs.compared += rhs.compared
            lhs.opened += rhs.opened
            lhs.repaired += rhs.repaired
            lhs.closed += rhs.closed
        }
    }

    /// Reads a chunk of linked records on both sides and compares them.
    @discardableResult
    func check(_ chunk: [LinkReader.Link]) async throws -> SweepReport {
        var report = SweepReport()
        let pairs = chunk.compactMap { link in link.recordID.flatMap { r in link.masterDealID.map { (link, r, $0) } } }
        guard !pairs.isEmpty else { return report }
        let lineage = UUID()
        // One CRM read for the chunk (amoCRM filter[id][], Bitrix24 batch), paced by the reconciler's budget.
        try await budget.acquire()
        let crmItems = try await crm.fetch(pairs.map(\.1), lineage: lineage)
        let crmByID = observations(crmItems, from: crm)
        // The chunk's field states and open drift in one query each (most records have no drift to close).
        let states = try await links.fieldStates(links: pairs.map(\.0.id))
        let drifting = try await drift.recordsWithOpenDrift(connector: connector, among: pairs.map(\.1))
        for (link, recordID, masterID) in pairs {
            let masterItems = try await master.fetch([masterID], lineage: lineage)
            let masterObservation = observations(masterItems, from: master)[masterID]
            report.compared += 1
            let result = DriftCheck(mapping: mapping).compare(
                master: masterObservation, crm: crmByID[recordID], states: states[link.id] ?? [:])
            report += try await settle(
                result, link: link, recordID: recordID, masterID: masterID, hasOpenDrift: drifting.contains(recordID),
                fresh: [masterObservation, crmByID[recordID]].compactMap { $0 })
        }
        metrics.recordsCompared(connector, count: report.compared)
        return report
    }

    func observations(_ items: [InboxItem], from connector: any Connector) -> [String: Observation] {
        var result: [String: Observation] = [:]
        for item in items {
            guard case .observations(let decoded)? = try? connector.decode(InboxRow(id: 0, item: item)) else { continue }
            for observation in decoded { result[observation.recordID] = observation }
        }
        return result
    }

    private func settle(
        _ result: DriftCheck.Result, link: LinkReader.Link, recordID: String, masterID: String, hasOpenDrift: Bool,
        fresh: [Observation]
    ) async throws -> SweepReport {
        var report = SweepReport()
        let now = self.now()
        switch result {
        case .missing(let side):
            let key = "\(link.id):*"
            guard candidateLasted(key, now: now) else { return report }
            let entry = DivergenceEntry(
                kind: .drift, field: "*",
                outcome: "open: the record is gone from \(side == .crm ? connector : "MasterDeal") while still linked",
                detail: ["missing": side.rawValue, "last_sync_lineage": link.lastLineageID?.uuidString.lowercased() ?? ""])
            let opened = try await drift.open(
                entry, connector: connector, masterDealID: masterID, recordID: recordID, lineage: link.lastLineageID)
            if opened.opened {
                report.opened += 1
                metrics.driftDetected(connector, field: "*")
            }
        case .differences(let differences):
            let differing = Set(differences.map(\.field))
            let agreeing = mapping.fields.map(\.name).filter { !differing.contains($0) } + ["*"]
            if hasOpenDrift {
                let closed = try await drift.close(
                    connector: connector, recordID: recordID, fields: agreeing, outcome: "the sides agree again")
                report.closed += closed.count
            }
            forget(link: link.id, except: differing)
            let settled = differences.filter { !$0.inFlight }
            guard !settled.isEmpty else { return report }
            if try await repairs.hasWorkInFlight(linkID: link.id, connector: connector, recordID: recordID, masterDealID: masterID) {
                return report
            }
            var repair: [String] = []
            for difference in settled {
                guard candidateLasted("\(link.id):\(difference.field)", now: now) else { continue }
                var entry = DivergenceEntry(
                    kind: .drift, field: difference.field, masterValue: difference.masterValue, crmValue: difference.crmValue,
                    masterAt: difference.masterAt, crmAt: difference.crmAt, rule: "repair:\(difference.repair.rawValue)",
                    outcome: difference.repair == .auto ? "open: repairing by the field's rule" : "open: reported for a person to repair",
                    detail: [
                        "last_changed": difference.lastChanged?.rawValue ?? "unknown",
                        "last_sync_lineage": link.lastLineageID?.uuidString.lowercased() ?? "",
                    ])
                if difference.pii { entry = entry.masked() }
                let opened = try await drift.open(
                    entry, connector: connector, masterDealID: masterID, recordID: recordID, lineage: link.lastLineageID)
                if opened.opened {
                    report.opened += 1
                    metrics.driftDetected(connector, field: difference.field)
                    logger.warning(
                        "drift",
                        metadata: [
                            "connector": "\(connector)", "record": "\(recordID)", "field": "\(difference.field)",
                            "repair": "\(difference.repair.rawValue)",
                        ])
                }
                if difference.repair == .auto { repair.append(difference.field) }
            }
            if !repair.isEmpty {
                let writes = try await repairs.repairDrift(
                    linkID: link.id, fields: repair, fresh: fresh, lineage: UUID(),
                    cause: "drift:\(link.id):\(Date().timeIntervalSince1970)")
                report.repaired += repair.count
                for field in repair { metrics.driftRepaired(connector, field: field) }
                logger.info(
                    "drift repair enqueued", metadata: ["connector": "\(connector)", "record": "\(recordID)", "writes": "\(writes)"])
            }
        }
        return report
    }

    /// Whether the difference at `key` has lasted the grace period (remembering when it was first seen).
    private func candidateLasted(_ key: String, now: ContinuousClock.Instant) -> Bool {
        candidates.withLock { seen in
            guard let first = seen[key] else {
                seen[key] = now
                return settings.grace <= .zero
            }
            return first.duration(to: now) >= settings.grace
        }
    }

    private func forget(link: Int64, except fields: Set<String>) {
        candidates.withLock { seen in
            for key in seen.keys where key.hasPrefix("\(link):") && !fields.contains(String(key.split(separator: ":", maxSplits: 1)[1])) {
                seen[key] = nil
            }
        }
    }
}

extension Reconciler {
    public enum RepairResult: Sendable, Equatable {
        /// Writes were enqueued; the drift closes once both sides agree.
        case enqueued(writes: Int)
        /// The sides agree already; the drift was closed.
        case closed
        case refused(String)
    }

    /// Repairs one open drift now (`dealsync drift repair`): reads both records, and if they still differ
    /// re-decides them and writes the decided value where a side differs. `dryRun` only reports.
    public func repair(_ entry: DivergenceRecord, dryRun: Bool) async throws -> RepairResult {
        guard entry.kind == "drift", entry.open else { return .refused("entry \(entry.id) is not open drift") }
        guard let recordID = entry.recordID, let snapshot = try await links.link(connector: connector, recordID: recordID),
            let masterID = snapshot.masterDealID
        else { return .refused("record \(entry.recordID ?? "?") is no longer linked") }
        let lineage = UUID()
        try await budget.acquire()
        let crmObservation = observations(try await crm.fetch([recordID], lineage: lineage), from: crm)[recordID]
        let masterObservation = observations(try await master.fetch([masterID], lineage: lineage), from: master)[masterID]
        let result = DriftCheck(mapping: mapping).compare(master: masterObservation, crm: crmObservation, states: snapshot.fields)
        switch result {
        case .missing(let side):
            return .refused("the record is gone from \(side == .crm ? connector : "MasterDeal"); unlink or recreate it by hand")
        case .differences(let differences):
            let fields =
                entry.field == "*" || entry.field == nil
                ? differences.map(\.field) : [entry.field!].filter { f in differences.contains { $0.field == f } }
            guard !fields.isEmpty else {
                if !dryRun {
                    try await drift.close(
                        connector: connector, recordID: recordID, fields: [entry.field ?? "*"], outcome: "agree at repair time")
                }
                return .closed
            }
            if dryRun { return .enqueued(writes: fields.count) }
            let writes = try await repairs.repairDrift(
                linkID: snapshot.linkID, fields: fields,
                fresh: [masterObservation, crmObservation].compactMap { $0 }, lineage: lineage,
                cause: "drift-repair:\(entry.id):\(Date().timeIntervalSince1970)")
            for field in fields { metrics.driftRepaired(connector, field: field) }
            return .enqueued(writes: writes)
        }
    }
}
