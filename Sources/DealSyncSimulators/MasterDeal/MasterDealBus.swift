import DealSyncKafka
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// MasterDeal on a Kafka bus: publishes every event the simulator emits to the events topic (keyed by deal id, so
/// one deal's events stay in order), and consumes `DealChangeRequested` events from the changes topic, applying each
/// once (by `event_id`) as a write by its `source`, so its echo comes back as MasterDeal's own event.
///
/// It encodes and parses with the simulator's own JSON, never with dealsync's codecs.
public final class MasterDealBus: Service, Sendable {
    public struct Settings: Sendable {
        public var bootstrapServers: String
        public var eventsTopic = "masterdeal.deal-events"
        public var changesTopic = "dealsync.crm-changes"
        public var group = "masterdeal"

        public init(bootstrapServers: String) { self.bootstrapServers = bootstrapServers }
    }

    /// What the bus did.
    public struct Stats: Sendable, Equatable, Codable {
        public var published = 0
        public var publishFailed = 0
        public var changesApplied = 0
        public var changesDuplicate = 0
        public var changesRefused = 0
    }

    let simulator: MasterDealSimulator
    public let settings: Settings
    let producer: KafkaProducer
    let logger: Logger
    let outgoing: AsyncStream<[MasterDealSimulator.Event]>
    let outgoingInput: AsyncStream<[MasterDealSimulator.Event]>.Continuation
    let state = Mutex(BusState())

    struct BusState {
        var stats = Stats()
        var applied: Set<String> = []
        var refusals: [String] = []
    }

    public init(simulator: MasterDealSimulator, settings: Settings, logger: Logger) throws {
        self.simulator = simulator
        self.settings = settings
        self.logger = logger
        producer = try KafkaProducer(
            properties: ["bootstrap.servers": settings.bootstrapServers, "client.id": "masterdeal"], logger: logger)
        (outgoing, outgoingInput) = AsyncStream.makeStream()
        let input = outgoingInput
        simulator.publisher.bus.sink.withLock { $0 = { events in if !events.isEmpty { input.yield(events) } } }
    }

    public var stats: Stats { state.withLock { $0.stats } }

    /// Why each refused change was refused, oldest first.
    public var refusals: [String] { state.withLock { $0.refusals } }

    public func run() async throws {
        let consumer = try KafkaConsumer(
            properties: ["bootstrap.servers": settings.bootstrapServers, "group.id": settings.group, "client.id": "masterdeal"],
            topics: [settings.changesTopic], logger: logger)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.publishEvents() }
            group.addTask { await self.applyChanges(consumer) }
            try? await gracefulShutdown()
            outgoingInput.finish()
            group.cancelAll()
        }
        await consumer.close()
        await producer.close(timeout: .seconds(5))
        simulator.publisher.bus.sink.withLock { $0 = nil }
    }

    private func publishEvents() async {
        for await events in outgoing {
            let messages = events.map { event in
                KafkaOutgoingMessage(
                    topic: settings.eventsTopic, key: Data(event.deal.id.utf8), value: event.json.serialized(),
                    headers: [("event_id", event.id), ("event_type", event.type.rawValue)])
            }
            let results = await producer.send(messages)
            let failed = results.count { if case .failure = $0 { true } else { false } }
            state.withLock {
                $0.stats.published += results.count - failed
                $0.stats.publishFailed += failed
            }
            if failed > 0 { logger.warning("events not published", metadata: ["count": "\(failed)"]) }
        }
    }

    private func applyChanges(_ consumer: KafkaConsumer) async {
        while !Task.isCancelled {
            let batch = await consumer.poll(maxMessages: 200, timeout: .milliseconds(200))
            for message in batch.messages { apply(message.value) }
            if !batch.messages.isEmpty { try? await consumer.commit(batch.messages) }
        }
    }

    /// Applies one `DealChangeRequested` body; a change already applied (the same `event_id`) changes nothing.
    func apply(_ body: Data) {
        typealias JSON = MasterDealSimulator.JSONValue
        func refuse(_ reason: String) {
            state.withLock {
                $0.stats.changesRefused += 1
                $0.refusals.append(reason)
            }
            logger.warning("change refused", metadata: ["reason": "\(reason)"])
        }
        guard let event = try? JSON.parse(body), let members = event.objectValue else { return refuse("not a JSON object") }
        guard members["type"]?.stringValue == "DealChangeRequested" else { return refuse("not a DealChangeRequested event") }
        guard let eventID = members["event_id"]?.stringValue, let dealID = members["master_deal_id"]?.stringValue,
            let operation = members["operation"]?.stringValue, let changes = members["changes"], changes.objectValue != nil
        else { return refuse("event_id, master_deal_id, operation and changes are required") }
        let source = members["source"]?.stringValue ?? "dealsync"
        let duplicate = state.withLock { state in
            guard !state.applied.contains(eventID) else {
                state.stats.changesDuplicate += 1
                return true
            }
            return false
        }
        if duplicate { return }
        do {
            try simulator.applyBusChange(operation: operation, dealID: dealID, changes: changes, source: source)
            state.withLock {
                $0.applied.insert(eventID)
                $0.stats.changesApplied += 1
            }
        } catch {
            refuse("\(operation) \(dealID): \(error)")
        }
    }
}

extension MasterDealSimulator {
    /// A change from the bus, applied as a write by `source`: a create under the proposed id (done already when a
    /// deal has that id), or a merge-patch. There is no `If-Match` on the bus: a patch applies to the deal as it is.
    func applyBusChange(operation: String, dealID: String, changes: JSONValue, source: String) throws {
        let now = self.now
        let outgoing: [State.Outgoing] = try state.withLock { state in
            switch operation {
            case "create":
                if state.deals[dealID] != nil { return [] }
                let draft = try DealDraft(json: changes, stages: rules.stages)
                let (_, events) = try state.create(draft, id: dealID, source: source, now: now, rules: rules)
                state.writesApplied += 1
                return state.record(events)
            case "update":
                let patch = try DealPatch(json: changes, stages: rules.stages)
                let before = state.deals[dealID]?.version
                let (deal, events) = try state.update(id: dealID, patch: patch, ifMatch: nil, source: source, now: now, rules: rules)
                if deal.version != before { state.writesApplied += 1 }
                return state.record(events)
            default:
                throw Problem.validation("operation must be create or update.", pointer: "/operation")
            }
        }
        publisher.publish(outgoing)
    }
}

extension MasterDealBus {
    /// MasterDeal on a fresh mock cluster (3 brokers) with the bus's two topics of `partitions` each: what the demo
    /// and the tests put MasterDeal on. The caller shuts the cluster down.
    public static func onMockCluster(
        _ simulator: MasterDealSimulator, partitions: Int = 4, logger: Logger
    ) throws
        -> (cluster: KafkaMockCluster, bus: MasterDealBus)
    {
        let cluster = try KafkaMockCluster(brokers: 3, logger: logger)
        let settings = Settings(bootstrapServers: cluster.bootstrapServers)
        try cluster.createTopic(settings.eventsTopic, partitions: partitions)
        try cluster.createTopic(settings.changesTopic, partitions: partitions)
        return (cluster, try MasterDealBus(simulator: simulator, settings: settings, logger: logger))
    }

    /// The MasterDeal connector's YAML lines that point dealsync at this bus: events from its events topic, writes
    /// to its changes topic.
    public var connectorYAML: String {
        """
        events: {kafka: {brokers: "\(settings.bootstrapServers)", topic: \(settings.eventsTopic), group: dealsync}}
        writes: {kafka: {topic: \(settings.changesTopic)}}
        """
    }
}
