import CRDKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// Reads topics as a member of a consumer group, committing offsets only when told to.
///
/// Every librdkafka call runs on the consumer's own serial queue (its thread is not Swift's cooperative pool):
/// poll, commit and close block. Offsets are never committed automatically (`enable.auto.commit=false`): the
/// caller commits a message's offset once it has stored the message, so a crash redelivers and never loses.
/// Partitions are assigned by the group (eager `range,roundrobin`): several processes with one `group.id` split
/// a topic's partitions, and a survivor takes a dead member's partitions after `session.timeout.ms`.
public final class KafkaConsumer: Sendable {
    public static let defaultProperties: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": "false",
        "session.timeout.ms": "6000",
        "heartbeat.interval.ms": "500",
        // A fetch a broker never answers (it went away without closing the connection) is given up after 10 s.
        "socket.timeout.ms": "10000",
        "socket.keepalive.enable": "true",
    ]

    let handle: KafkaPointer
    let context: Unmanaged<KafkaClientContext>
    let queue: DispatchQueue
    let logger: Logger
    let closed = StopFlag()

    /// `properties` are librdkafka's (at least `bootstrap.servers` and `group.id`); they override
    /// ``defaultProperties``.
    public init(properties: [String: String], topics: [String], logger: Logger) throws(KafkaError) {
        self.logger = logger
        self.queue = DispatchQueue(label: "kafka-consumer")
        let context = Unmanaged.passRetained(KafkaClientContext(logger: logger))
        self.context = context
        let merged = Self.defaultProperties.merging(properties) { $1 }
        let raw: OpaquePointer
        do {
            raw = try KafkaClient.makeHandle(RD_KAFKA_CONSUMER, properties: merged, context: context)
        } catch {
            context.release()
            throw error
        }
        rd_kafka_poll_set_consumer(raw)
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let err = rd_kafka_subscribe(raw, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(raw)
            context.release()
            throw KafkaError(err, "cannot subscribe to \(topics.joined(separator: ", "))")
        }
        handle = KafkaPointer(raw: raw)
    }

    deinit {
        if !closed.isSet {
            rd_kafka_consumer_close(handle.raw)
            rd_kafka_destroy(handle.raw)
        }
        context.release()
    }

    /// What one poll brought: messages in offset order per partition, and the errors librdkafka reported meanwhile
    /// (a broker down, a group rebalance failing), which it also retries on its own.
    public struct Batch: Sendable {
        public var messages: [KafkaMessage] = []
        public var errors: [KafkaError] = []
    }

    /// Waits up to `timeout` for a first message, then takes what else is ready, up to `maxMessages`.
    public func poll(maxMessages: Int, timeout: Duration) async -> Batch {
        let handle = handle, closed = closed, context = context.takeUnretainedValue()
        let firstWait = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var batch = await KafkaClient.blocking(on: queue) {
            var batch = Batch()
            guard !closed.isSet else { return batch }
            var wait = firstWait
            while batch.messages.count < maxMessages, let message = rd_kafka_consumer_poll(handle.raw, wait) {
                defer { rd_kafka_message_destroy(message) }
                wait = 0
                if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    batch.errors.append(KafkaError(message.pointee.err, Self.errorText(message)))
                    continue
                }
                batch.messages.append(Self.copy(message))
            }
            return batch
        }
        batch.errors += context.collect()
        return batch
    }

    static func errorText(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> String {
        guard message.pointee.len > 0, let payload = message.pointee.payload else { return "consumer error" }
        return String(decoding: UnsafeRawBufferPointer(start: payload, count: message.pointee.len), as: UTF8.self)
    }

    static func copy(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaMessage {
        let m = message.pointee
        let topic = m.rkt.flatMap { rd_kafka_topic_name($0) }.map { String(cString: $0) } ?? ""
        let value = m.payload.map { Data(bytes: $0, count: m.len) } ?? Data()
        let key = m.key.map { Data(bytes: $0, count: m.key_len) }
        var headers: [String: String] = [:]
        var list: OpaquePointer?
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var bytes: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                if let name {
                    let text = bytes.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: size), as: UTF8.self) } ?? ""
                    headers[String(cString: name)] = text
                }
                index += 1
            }
        }
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &type)
        return KafkaMessage(
            topic: topic, partition: m.partition, offset: m.offset, key: key, value: value, headers: headers,
            timestampMillis: type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp)
    }

    /// Commits, synchronously, the offset after each partition's last message in `messages`: the group resumes
    /// there. A commit after this member lost the partition in a rebalance fails; the new owner then reads those
    /// messages again (at least once: the caller deduplicates).
    public func commit(_ messages: [KafkaMessage]) async throws(KafkaError) {
        var next: [KafkaTopicPartition: Int64] = [:]
        for message in messages {
            let key = KafkaTopicPartition(topic: message.topic, partition: message.partition)
            next[key] = max(next[key] ?? 0, message.offset + 1)
        }
        try await commit(offsets: next)
    }

    /// Commits these next offsets (the offset of the next message to read, per partition).
    public func commit(offsets: [KafkaTopicPartition: Int64]) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let handle = handle, closed = closed
        let sorted = offsets.sorted { $0.key < $1.key }
        let error: KafkaError? = await KafkaClient.blocking(on: queue) {
            guard !closed.isSet else { return KafkaError(RD_KAFKA_RESP_ERR__DESTROY, "the consumer is closed") }
            let list = rd_kafka_topic_partition_list_new(Int32(sorted.count))
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for (partition, offset) in sorted {
                rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition).pointee.offset = offset
            }
            let err = rd_kafka_commit(handle.raw, list, 0)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { return KafkaError(err, "offset commit failed") }
            for index in 0..<Int(list!.pointee.cnt) where list!.pointee.elems[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let element = list!.pointee.elems[index]
                return KafkaError(element.err, "offset commit for \(String(cString: element.topic))[\(element.partition)] failed")
            }
            return nil
        }
        if let error { throw error }
    }

    /// The partitions this member holds now and, where librdkafka knows both ends, how many messages each has
    /// waiting past what was consumed.
    public func lag() async -> [KafkaTopicPartition: Int64?] {
        let handle = handle, closed = closed
        return await KafkaClient.blocking(on: queue) {
            guard !closed.isSet else { return [:] }
            var assigned: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            guard rd_kafka_assignment(handle.raw, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR, let assigned else { return [:] }
            defer { rd_kafka_topic_partition_list_destroy(assigned) }
            _ = rd_kafka_position(handle.raw, assigned)
            var result: [KafkaTopicPartition: Int64?] = [:]
            for index in 0..<Int(assigned.pointee.cnt) {
                let element = assigned.pointee.elems[index]
                let key = KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
                var low: Int64 = -1, high: Int64 = -1
                let known = rd_kafka_get_watermark_offsets(handle.raw, element.topic, element.partition, &low, &high)
                if known == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 {
                    let position = element.offset >= 0 ? element.offset : low
                    result[key] = position >= 0 ? max(0, high - position) : nil
                } else {
                    result[key] = .some(nil)
                }
            }
            return result
        }
    }

    /// Leaves the group (its partitions go to the others at once) and releases the client. Offsets not committed
    /// by then are read again by whoever takes the partitions. With the brokers unreachable, leaving can take as
    /// long as the session: after `timeout` the caller goes on, and the client is released when librdkafka is done.
    public func close(timeout: Duration = .seconds(5)) async {
        guard closed.setFirst() else { return }
        // The context stays alive while librdkafka may still call back into it, even past this object's end.
        let handle = handle, logger = logger, context = context.takeUnretainedValue()
        let finished = await KafkaClient.blocking(on: queue, timeout: timeout) {
            rd_kafka_consumer_close(handle.raw)
            rd_kafka_destroy(handle.raw)
            withExtendedLifetime(context) {}
        }
        if !finished { logger.warning("Kafka consumer still leaving its group; not waiting longer", metadata: ["timeout": "\(timeout)"]) }
    }
}
