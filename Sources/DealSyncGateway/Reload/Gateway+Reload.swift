import DealSyncConnectors
import DealSyncCore
import DealSyncStore

extension Gateway {
    /// Why a validated configuration cannot be applied without a restart, one reason per line; empty when it can.
    ///
    /// This version applies mapping changes in place. The connector set and each connector's settings (URLs,
    /// credentials, limits, polling) are those the services were started with, so any change there is refused.
    public func restartReasons(for next: Configuration, changes: [ConfigurationFiles.Change]) -> [String] {
        var reasons: [String] = []
        let running = configuration.connectors.map(\.id)
        let wanted = next.connectors.map(\.id)
        let added = wanted.filter { !running.contains($0) }
        let removed = running.filter { !wanted.contains($0) }
        if !added.isEmpty || !removed.isEmpty {
            let parts =
                (added.isEmpty ? [] : ["added \(added.joined(separator: ", "))"])
                + (removed.isEmpty ? [] : ["removed \(removed.joined(separator: ", "))"])
            reasons.append("connector set changed (\(parts.joined(separator: "; "))): restart needed")
        }
        for change in changes where change.isConnector && change.kind == .changed {
            reasons.append("\(change.path) changed: connector settings apply at restart (this reload applies mappings only)")
        }
        return reasons
    }

    /// Makes `next` the configuration every batch decided or delivered from now on uses: the same connectors
    /// (HTTP clients, rate limiters, OAuth sessions), each deciding by its mapping in `next`.
    ///
    /// - Important: `next` must pass ``restartReasons(for:changes:)`` with no reason.
    @discardableResult
    public func adopt(_ next: Configuration) -> GatewayGeneration {
        let current = generations.current
        let connectors: [any Connector] = current.registry.all.map { connector in
            guard connector.config.kind != .masterdeal, let mapping = next.mapping(for: connector.config) else { return connector }
            return connector.remapped(to: mapping)
        }
        let generation = GatewayGeneration(
            number: current.number + 1, configuration: next, registry: ConnectorRegistry(connectors: connectors),
            sync: Self.makeSync(next, database: database, metrics: metrics, logger: logger))
        generations.replace(with: generation)
        return generation
    }
}
