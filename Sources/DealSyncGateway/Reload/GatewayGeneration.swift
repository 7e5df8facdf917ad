import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Synchronization

/// One configuration as the gateway runs it: the connectors built for it and the sync context deciding by it.
///
/// Lanes and relays read the current generation once per batch, so every batch is decoded, decided and delivered
/// by one configuration, and a reload applies to every batch that starts after it.
public final class GatewayGeneration: Sendable {
    /// 1 at start, one more per accepted reload.
    public let number: Int
    public let configuration: Configuration
    public let registry: ConnectorRegistry
    public let sync: SyncContext

    init(number: Int, configuration: Configuration, registry: ConnectorRegistry, sync: SyncContext) {
        self.number = number
        self.configuration = configuration
        self.registry = registry
        self.sync = sync
    }

    public var inbox: InboxProcessor { InboxProcessor(context: sync) }
    public var outcomes: DeliveryOutcomes { DeliveryOutcomes(context: sync) }
}

/// The gateway's current generation, replaced whole by a reload.
public final class CurrentGeneration: Sendable {
    private let value: Mutex<GatewayGeneration>

    init(_ generation: GatewayGeneration) {
        value = Mutex(generation)
    }

    public var current: GatewayGeneration { value.withLock { $0 } }

    /// Makes `next` current and returns the one it replaced.
    @discardableResult
    func replace(with next: GatewayGeneration) -> GatewayGeneration {
        value.withLock { current in
            let previous = current
            current = next
            return previous
        }
    }
}
