import DealSyncConnectors
import DealSyncCore
import DealSyncKafka
import DealSyncStore
import Foundation
import Logging
import ServiceLifecycle
import Tracing

/// Consumes MasterDeal's events from a Kafka topic into the inbox, as a member of the configured consumer group:
/// every `serve` process runs one, and the group spreads the topic's partitions over them.
///
/// Each poll's messages are stored in one transaction (a valid event keyed by its deal version, so a redelivered
/// message is a duplicate; anything else stored as failed with the reason, so it is seen and never blocks its
/// partition), and only after that commit are their offsets committed. A crash anywhere in between redelivers
/// the messages to whoever holds the partition next; nothing is lost and nothing is applied twice.
final class KafkaIntake: Service {
    struct Options: Sendable {
        var maxMessages = 500
        var pollTimeout: Duration = .milliseconds(250)
        /// Waits between attempts to store a batch while the database is unreachable (the batch is kept; its
        /// offsets stay uncommitted).
        var storeRetry: Duration = .seconds(1)
        /// How often the partitions held and their lag are reported.
        var lagInterval: Duration = .seconds(2)
    }

    let connector: MasterDealConnector
    let events: ConnectorConfig.KafkaEvents
    let inbox: InboxStore
    let metrics: GatewayMetrics
    let options: Options
    let worker: String
    let logger: Logger

    init(
        connector: MasterDealConnector, events: ConnectorConfig.KafkaEvents, inbox: InboxStore, metrics: GatewayMetrics,
        options: Options = Options(), worker: String, logger: Logger
    ) {
        self.connector = connector
        self.events = events
        self.inbox = inbox
        self.metrics = metrics
        self.options = options
        self.worker = worker
        self.logger = logger
    }

    var id: String { connector.config.id }

    func run() async throws {
        var properties = events.bus.clientProperties
        properties["group.id"] = events.group
        properties["client.id"] = "dealsync-\(worker)"
        let consumer = try KafkaConsumer(properties: properties, topics: [events.topic], logger: logger)
        logger.info(
            "consuming MasterDeal events", metadata: ["connector": "\(id)", "topic": "\(events.topic)", "group": "\(events.group)"])
        let clock = ContinuousClock()
        var lagDue = clock.now
        var reported: Set<KafkaPartitionLabel> = []
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let batch = await consumer.poll(maxMessages: options.maxMessages, timeout: options.pollTimeout)
            for error in batch.errors {
                metrics.kafkaConsumerError(id)
                logger.warning("Kafka consumer error", metadata: ["connector": "\(id)", "error": "\(error.description.prefix(300))"])
            }
            if !batch.messages.isEmpty {
                guard await store(batch.messages) else { break }
                do {
                    try await consumer.commit(batch.messages)
                } catch {
                    // The partition moved in a rebalance: its new owner reads these again and finds them stored.
                    logger.warning("offset commit failed", metadata: ["connector": "\(id)", "error": "\(error.description.prefix(300))"])
                }
            }
            if clock.now >= lagDue {
                lagDue = clock.now.advanced(by: options.lagInterval)
                reported = await reportLag(consumer, previously: reported)
            }
        }
        await consumer.close()
        logger.info("left the consumer group", metadata: ["connector": "\(id)", "group": "\(events.group)"])
    }

    /// Stores one poll's messages, retrying while the database is unreachable; false when the service stops first
    /// (nothing was committed, so the messages come again).
    private func store(_ messages: [KafkaMessage]) async -> Bool {
        var items: [InboxItem] = []
        var refused: [(item: InboxItem, reason: String)] = []
        // A consumer span per message, continuing the producer's trace when the message carries one; the stored
        // row carries the span on to the lane's decision. Ended once the poll's messages are stored.
        var spans: [any Span] = []
        defer { for span in spans { span.end() } }
        for message in messages {
            var accepted = connector.accept(message)
            let span = startSpan(
                "consume \(message.topic)", context: TraceContext.context(from: accepted.item.headers), ofKind: .consumer)
            if span.isRecording {
                span.attributes["messaging.system"] = "kafka"
                span.attributes["messaging.destination.name"] = message.topic
                span.attributes["messaging.destination.partition.id"] = "\(message.partition)"
                span.attributes["messaging.kafka.offset"] = Int(message.offset)
                span.attributes["dealsync.connector"] = id
                if let reason = accepted.refusal { span.attributes["dealsync.refused"] = reason }
                accepted.item.headers.merge(TraceContext.headers(of: span.context)) { $1 }
            }
            spans.append(span)
            if let reason = accepted.refusal {
                refused.append((accepted.item, reason))
                logger.warning(
                    "Kafka message refused",
                    metadata: [
                        "connector": "\(id)", "topic": "\(message.topic)", "partition": "\(message.partition)",
                        "offset": "\(message.offset)",
                        "reason": "\(reason)",
                    ])
            } else {
                items.append(accepted.item)
            }
        }
        while true {
            do {
                let stored = try await inbox.record(items, refused: refused)
                metrics.kafkaConsumed(id, outcome: "stored", count: stored)
                metrics.kafkaConsumed(id, outcome: "duplicate", count: items.count - stored)
                metrics.kafkaConsumed(id, outcome: "refused", count: refused.count)
                return true
            } catch {
                metrics.kafkaStoreFailure(id)
                logger.error(
                    "cannot store Kafka messages; retrying",
                    metadata: [
                        "connector": "\(id)", "messages": "\(messages.count)", "error": "\(String(describing: error).prefix(200))",
                    ])
                guard (try? await Task.sleep(for: options.storeRetry)) != nil, !Task.isShuttingDownGracefully else { return false }
            }
        }
    }

    private func reportLag(_ consumer: KafkaConsumer, previously: Set<KafkaPartitionLabel>) async -> Set<KafkaPartitionLabel> {
        var now: Set<KafkaPartitionLabel> = []
        for (partition, lag) in await consumer.lag() {
            let label = KafkaPartitionLabel(topic: partition.topic, partition: partition.partition)
            now.insert(label)
            metrics.kafkaAssigned(id, partition: label, true)
            if let lag { metrics.kafkaLag(id, partition: label, lag: lag) }
        }
        // A partition that went to another process is no longer this one's to report.
        for gone in previously.subtracting(now) {
            metrics.kafkaAssigned(id, partition: gone, false)
            metrics.kafkaLag(id, partition: gone, lag: 0)
        }
        return now
    }
}
