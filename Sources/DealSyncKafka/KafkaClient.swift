import CRDKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// An `rd_kafka_t` (or another librdkafka pointer) that may cross threads: librdkafka's handles are thread-safe,
/// Swift cannot know it.
struct KafkaPointer: @unchecked Sendable {
    let raw: OpaquePointer
}

/// What every librdkafka handle of ours shares through its opaque: where librdkafka's own log lines go, and the
/// client-level errors it reported (brokers down, authentication failing) until someone collects them.
final class KafkaClientContext: Sendable {
    let logger: Logger
    let errors = Mutex<[KafkaError]>([])
    init(logger: Logger) { self.logger = logger }

    func report(_ error: KafkaError) {
        errors.withLock { errors in
            // Kept only until collected, and never more than the last hundred.
            if errors.count >= 100 { errors.removeFirst() }
            errors.append(error)
        }
    }

    func collect() -> [KafkaError] {
        errors.withLock { errors in
            defer { errors = [] }; return errors
        }
    }
}

enum KafkaClient {
    /// A configuration with `properties` set, librdkafka's log lines routed to `logger`; `configure` adds
    /// callbacks. Unknown properties and bad values fail here, naming the property.
    static func makeHandle(
        _ type: rd_kafka_type_t, properties: [String: String], context: Unmanaged<KafkaClientContext>,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError(code: -1, "rd_kafka_conf_new failed") }
        var errstr = [CChar](repeating: 0, count: 512)
        for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, name, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, "Kafka property \(name): \(Self.text(errstr))")
            }
        }
        rd_kafka_conf_set_opaque(conf, context.toOpaque())
        rd_kafka_conf_set_log_cb(conf) { handle, level, facility, message in
            guard let handle, let opaque = rd_kafka_opaque(handle) else { return }
            let logger = Unmanaged<KafkaClientContext>.fromOpaque(opaque).takeUnretainedValue().logger
            let text = message.map { String(cString: $0) } ?? ""
            let facility = facility.map { String(cString: $0) } ?? ""
            // syslog levels: 0-3 errors, 4 warning, 5-6 notice/info, 7 debug.
            let swiftLevel: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
            logger.log(level: swiftLevel, "librdkafka: \(text)", metadata: ["facility": "\(facility)"])
        }
        rd_kafka_conf_set_error_cb(conf) { handle, code, reason, opaque in
            guard let opaque else { return }
            let context = Unmanaged<KafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
            context.report(KafkaError(rd_kafka_resp_err_t(rawValue: code), reason.map { String(cString: $0) } ?? "client error"))
        }
        configure(conf)
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            // rd_kafka_new leaves the configuration with the caller when it fails.
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, "cannot create the Kafka client: \(Self.text(errstr))")
        }
        return handle
    }

    static func text(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Runs a blocking call like ``blocking(on:_:)`` but stops waiting after `timeout` (the call goes on, on its
    /// thread); true when it finished in time.
    static func blocking(on queue: DispatchQueue, timeout: Duration, _ body: @escaping @Sendable () -> Void) async -> Bool {
        let resumed = StopFlag()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            @Sendable func resume(_ finished: Bool) {
                if resumed.setFirst() { continuation.resume(returning: finished) }
            }
            queue.async {
                body()
                resume(true)
            }
            let millis = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(millis)) { resume(false) }
        }
    }

    /// Runs a blocking librdkafka call on a thread of its own, never on Swift's cooperative pool.
    static func blocking<T: Sendable>(on queue: DispatchQueue, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}

/// A flag one thread sets and another reads (an `Atomic`, which cannot be copied into a closure, in a class).
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
    /// Sets the flag; true for the one caller that set it first.
    func setFirst() -> Bool { value.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
}
