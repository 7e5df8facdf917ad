import CRDKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// Publishes messages with librdkafka: `send` returns once the broker acknowledged each message (or it failed),
/// with the partition and offset it landed at.
///
/// Delivery reports arrive on a thread of the producer's own that polls librdkafka; nothing blocks Swift's
/// cooperative pool. The default properties make it idempotent (`enable.idempotence`: no duplicates or reordering
/// from its own retries, `acks=all`) and partition by key the way Java clients do (`murmur2_random`), so one key's
/// messages stay in one partition, in order.
public final class KafkaProducer: Sendable {
    public static let defaultProperties: [String: String] = [
        "enable.idempotence": "true",
        "acks": "all",
        "partitioner": "murmur2_random",
        "linger.ms": "5",
        // A request a broker never answers (it went away mid-request without closing the connection) is given
        // up after 10 s and sent again; a message gets several such tries before it fails back to the relay.
        "socket.timeout.ms": "10000",
        "message.timeout.ms": "60000",
        "socket.keepalive.enable": "true",
    ]

    let handle: KafkaPointer
    let context: Unmanaged<KafkaClientContext>
    let logger: Logger
    let stopping = StopFlag()
    let stopped = DispatchSemaphore(value: 0)
    let closed = Mutex(false)

    /// `properties` are librdkafka's (at least `bootstrap.servers`); they override ``defaultProperties``.
    public init(properties: [String: String], logger: Logger) throws(KafkaError) {
        self.logger = logger
        let context = Unmanaged.passRetained(KafkaClientContext(logger: logger))
        self.context = context
        let merged = Self.defaultProperties.merging(properties) { $1 }
        do {
            handle = KafkaPointer(
                raw: try KafkaClient.makeHandle(RD_KAFKA_PRODUCER, properties: merged, context: context) { conf in
                    rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                        guard let message, let opaque = message.pointee._private else { return }
                        let pending = Unmanaged<PendingDelivery>.fromOpaque(opaque).takeRetainedValue()
                        if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                            let topic = message.pointee.rkt.flatMap { rd_kafka_topic_name($0) }.map { String(cString: $0) } ?? ""
                            pending.complete(
                                .success(
                                    KafkaDeliveryReport(
                                        topic: topic, partition: message.pointee.partition,
                                        offset: message.pointee.offset)))
                        } else {
                            pending.complete(.failure(KafkaError(message.pointee.err, "delivery failed")))
                        }
                    }
                })
        } catch {
            context.release()
            throw error
        }
        let handle = handle, stopping = stopping, stopped = stopped
        let thread = Thread {
            while !stopping.isSet { rd_kafka_poll(handle.raw, 100) }
            stopped.signal()
        }
        thread.name = "kafka-producer-poll"
        thread.start()
    }

    deinit {
        if !closed.withLock({ $0 }) {
            stopping.set()
            stopped.wait()
            rd_kafka_destroy(handle.raw)
        }
        context.release()
    }

    /// Publishes one message and returns where it landed.
    public func send(_ message: KafkaOutgoingMessage) async throws(KafkaError) -> KafkaDeliveryReport {
        try await send([message])[0].get()
    }

    /// Publishes messages in the order given (one key's messages keep that order) and returns one result per
    /// message, in order, once every one was acknowledged or failed.
    public func send(_ messages: [KafkaOutgoingMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        var pendings: [PendingDelivery] = []
        pendings.reserveCapacity(messages.count)
        for message in messages {
            let pending = PendingDelivery()
            pendings.append(pending)
            while true {
                if closed.withLock({ $0 }) {
                    pending.complete(.failure(KafkaError(RD_KAFKA_RESP_ERR__DESTROY, "the producer is closed")))
                    break
                }
                let opaque = Unmanaged.passRetained(pending)
                guard let error = produce(message, opaque: opaque.toOpaque()) else { break }
                opaque.release()
                // A full local queue drains as the broker acknowledges: wait a little, then try again.
                if error.isQueueFull, !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(5))
                    continue
                }
                pending.complete(.failure(error))
                break
            }
        }
        var results: [Result<KafkaDeliveryReport, KafkaError>] = []
        results.reserveCapacity(messages.count)
        for pending in pendings { results.append(await pending.result()) }
        return results
    }

    private func produce(_ message: KafkaOutgoingMessage, opaque: UnsafeMutableRawPointer) -> KafkaError? {
        // librdkafka copies everything (RD_KAFKA_MSG_F_COPY): the buffers live only for the call.
        var allocations: [UnsafeMutableRawPointer] = []
        defer { allocations.forEach { free($0) } }
        func copy(_ data: Data) -> UnsafeMutableRawPointer {
            let buffer = malloc(max(data.count, 1))!
            data.withUnsafeBytes { if let base = $0.baseAddress { buffer.copyMemory(from: base, byteCount: data.count) } }
            allocations.append(buffer)
            return buffer
        }
        func cString(_ text: String) -> UnsafePointer<CChar> {
            let pointer = strdup(text)!
            allocations.append(UnsafeMutableRawPointer(pointer))
            return UnsafePointer(pointer)
        }
        var values: [rd_kafka_vu_t] = []
        var topic = rd_kafka_vu_t()
        topic.vtype = RD_KAFKA_VTYPE_TOPIC
        topic.u.cstr = cString(message.topic)
        values.append(topic)
        if let key = message.key {
            var item = rd_kafka_vu_t()
            item.vtype = RD_KAFKA_VTYPE_KEY
            item.u.mem.ptr = copy(key)
            item.u.mem.size = key.count
            values.append(item)
        }
        var value = rd_kafka_vu_t()
        value.vtype = RD_KAFKA_VTYPE_VALUE
        value.u.mem.ptr = copy(message.value)
        value.u.mem.size = message.value.count
        values.append(value)
        for (name, text) in message.headers {
            let bytes = Data(text.utf8)
            var header = rd_kafka_vu_t()
            header.vtype = RD_KAFKA_VTYPE_HEADER
            header.u.header.name = cString(name)
            header.u.header.val = UnsafeRawPointer(copy(bytes))
            header.u.header.size = bytes.count
            values.append(header)
        }
        var flags = rd_kafka_vu_t()
        flags.vtype = RD_KAFKA_VTYPE_MSGFLAGS
        flags.u.i = RD_KAFKA_MSG_F_COPY
        values.append(flags)
        var pointer = rd_kafka_vu_t()
        pointer.vtype = RD_KAFKA_VTYPE_OPAQUE
        pointer.u.ptr = opaque
        values.append(pointer)
        guard let error = rd_kafka_produceva(handle.raw, &values, values.count) else { return nil }
        return KafkaError(consuming: error, "cannot publish to \(message.topic)")
    }

    /// Waits up to `timeout` for every message in flight, then stops: what was not acknowledged by then fails.
    public func close(timeout: Duration = .seconds(10)) async {
        guard
            closed.withLock({ closed in
                defer { closed = true }
                return !closed
            })
        else { return }
        let handle = handle, stopping = stopping, stopped = stopped
        let millis = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        await KafkaClient.blocking(on: .global()) {
            let flushed = rd_kafka_flush(handle.raw, millis)
            if flushed != RD_KAFKA_RESP_ERR_NO_ERROR {
                // Fail what is left (each pending send gets its report) rather than leaving callers waiting.
                rd_kafka_purge(handle.raw, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
                rd_kafka_poll(handle.raw, 0)
            }
            stopping.set()
            stopped.wait()
            rd_kafka_poll(handle.raw, 0)
            rd_kafka_destroy(handle.raw)
        }
    }
}

/// One message's delivery report, which may arrive before anyone waits for it.
final class PendingDelivery: Sendable {
    enum State {
        case waiting
        case arrived(Result<KafkaDeliveryReport, KafkaError>)
        case awaited(CheckedContinuation<Result<KafkaDeliveryReport, KafkaError>, Never>)
    }

    let state = Mutex(State.waiting)

    func complete(_ result: Result<KafkaDeliveryReport, KafkaError>) {
        let continuation = state.withLock { state -> CheckedContinuation<Result<KafkaDeliveryReport, KafkaError>, Never>? in
            switch state {
            case .waiting:
                state = .arrived(result)
                return nil
            case .awaited(let continuation):
                state = .arrived(result)
                return continuation
            case .arrived:
                return nil
            }
        }
        continuation?.resume(returning: result)
    }

    func result() async -> Result<KafkaDeliveryReport, KafkaError> {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result<KafkaDeliveryReport, KafkaError>? in
                if case .arrived(let result) = state { return result }
                state = .awaited(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
