import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Logging
import Synchronization

extension Gateway {
    /// What a validated configuration changes in the running CRM connectors.
    public struct ConnectorChanges: Sendable, Equatable {
        public var added: [String] = []
        public var removed: [String] = []
        /// Connectors whose file changed (URL, credentials, limits, polling, account): their lane stops after its
        /// in-flight work and starts again with the new settings.
        public var restarted: [String] = []

        public init(added: [String] = [], removed: [String] = [], restarted: [String] = []) {
            self.added = added
            self.removed = removed
            self.restarted = restarted
        }

        public var isEmpty: Bool { added.isEmpty && removed.isEmpty && restarted.isEmpty }

        /// `added tenant-07; removed tour; restarted fitness`, or `none`.
        public var description: String {
            let parts = [("added", added), ("removed", removed), ("restarted", restarted)].compactMap { name, ids in
                ids.isEmpty ? nil : "\(name) \(ids.joined(separator: ", "))"
            }
            return parts.isEmpty ? "none" : parts.joined(separator: "; ")
        }
    }

    /// The CRM connectors `next` adds, removes and changes, compared with the running configuration; `changes` are
    /// the files that differ (a connector whose file changed is restarted, whatever changed in it).
    public func connectorChanges(to next: Configuration, files changes: [ConfigurationFiles.Change]) -> ConnectorChanges {
        let running = configuration.connectors.filter { $0.kind != .masterdeal }
        let wanted = next.connectors.filter { $0.kind != .masterdeal }
        let runningIDs = Set(running.map(\.id))
        let wantedIDs = Set(wanted.map(\.id))
        func changed(_ config: ConnectorConfig) -> Bool { changes.contains { $0.concerns(config) } }
        return ConnectorChanges(
            added: wanted.map(\.id).filter { !runningIDs.contains($0) },
            removed: running.map(\.id).filter { !wantedIDs.contains($0) },
            restarted: wanted.filter { runningIDs.contains($0.id) && changed($0) }.map(\.id))
    }

    /// Why a validated configuration cannot be applied without a restart, one reason per line; empty when it can.
    ///
    /// CRM connectors are added, removed and restarted with new settings in place, and mappings apply at once.
    /// MasterDeal's connector is shared by every lane and every process (its inbox, relays, Kafka consumer and
    /// producer), so a change to it is refused.
    public func restartReasons(for next: Configuration, changes: [ConfigurationFiles.Change]) -> [String] {
        let running = configuration.masterDeal
        let wanted = next.masterDeal
        switch (running, wanted) {
        case (nil, nil):
            return []
        case (let running?, let wanted?) where running.id == wanted.id:
            return changes.contains(where: { $0.concerns(wanted) })
                ? ["\(wanted.id) (MasterDeal) changed: its settings apply at restart"] : []
        case (let running?, let wanted?):
            return ["MasterDeal connector changed from \(running.id) to \(wanted.id): restart needed"]
        case (let running?, nil):
            return ["MasterDeal connector \(running.id) removed: restart needed"]
        case (nil, let wanted?):
            return ["MasterDeal connector \(wanted.id) added: restart needed"]
        }
    }

    /// What a reload applied.
    public struct Adoption: Sendable {
        public var generation: GatewayGeneration
        public var connectors: ConnectorChanges
        /// Per removed connector: the writes to it still waiting in the outbox and its inbox rows not yet decided.
        /// They stay where they are, and go on if the connector comes back.
        public var leftWaiting: [(connector: String, writes: Int, rows: Int)]
    }

    /// Makes `next` the configuration every batch decided or delivered from now on uses, and the running lanes
    /// those of `next`: removed and restarted connectors' lanes stop here after their in-flight work (while the
    /// old configuration still decides), then the new generation replaces the old one whole, then added and
    /// restarted connectors' lanes are offered to this process's lane host. Unchanged connectors are kept (HTTP
    /// clients, rate limiters, OAuth sessions), each deciding by its mapping in `next`.
    ///
    /// - Important: `next` must pass ``restartReasons(for:changes:)`` with no reason.
    @discardableResult
    public func adopt(_ next: Configuration, changes: [ConfigurationFiles.Change] = []) async -> Adoption {
        let plan = connectorChanges(to: next, files: changes)
        let running = lanesRunning.withLock { $0 }
        if let running { await running.host.remove(Set(plan.removed + plan.restarted)) }
        let current = generations.current
        let rebuilt = Set(plan.added + plan.restarted)
        var connectors: [any Connector] = []
        for config in next.connectors {
            if !rebuilt.contains(config.id), let kept = current.registry.connector(config.id) {
                guard config.kind != .masterdeal, let mapping = next.mapping(for: config) else {
                    connectors.append(kept)
                    continue
                }
                connectors.append(kept.remapped(to: mapping))
            } else if let built = ConnectorRegistry.build(
                config, in: next, client: httpClient, credentials: credentials, logger: logger, metrics: metrics)
            {
                connectors.append(built)
            }
        }
        metrics.register(connectors: next.connectors.filter { rebuilt.contains($0.id) }.map { ($0.id, $0.kind) })
        for config in configuration.connectors where plan.removed.contains(config.id) {
            metrics.unregister(connector: config.id, kind: config.kind)
        }
        let generation = GatewayGeneration(
            number: current.number + 1, configuration: next, registry: ConnectorRegistry(connectors: connectors),
            sync: Self.makeSync(next, database: database, metrics: metrics, logger: logger))
        generations.replace(with: generation)
        if let running {
            running.host.add(rebuilt.sorted().compactMap { generation.registry.connector($0) }.map { lane(of: $0, kit: running.kit) })
        }
        return Adoption(generation: generation, connectors: plan, leftWaiting: await waiting(of: plan.removed))
    }

    /// The writes and inbox rows of `connectors` still waiting; empty when they cannot be counted.
    private func waiting(of connectors: [String]) async -> [(connector: String, writes: Int, rows: Int)] {
        guard !connectors.isEmpty else { return [] }
        do {
            let depth = try await OutboxClaims(database: database, logger: logger).depth()
            let backlog = try await InboxStore(database: database, logger: logger).backlog()
            return connectors.map { id in
                (id, depth.first { $0.target == id }?.open ?? 0, backlog.first { $0.connector == id }?.pending ?? 0)
            }
        } catch {
            logger.warning(
                "the waiting work of removed connectors could not be counted",
                metadata: ["error": "\(String(describing: error).prefix(200))"])
            return []
        }
    }
}
