import Instrumentation
import ServiceContextModule
import Tracing

/// W3C trace context (`traceparent`, `tracestate`) as dealsync carries it: in an inbox row's headers, in the
/// headers of a Kafka message, and from there into the spans of the work the row causes. With tracing off (the
/// default), the no-op instrument writes and reads nothing.
public enum TraceContext {
    /// The headers that carry the current task's trace context (empty without tracing or a current span).
    public static func headers(of context: ServiceContext? = ServiceContext.current) -> [String: String] {
        var headers: [String: String] = [:]
        guard let context else { return headers }
        InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryInjector())
        return headers
    }

    /// The trace context carried in `headers` (lower-case names), or a top-level context when there is none.
    public static func context(from headers: [String: String]) -> ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(headers, into: &context, using: DictionaryExtractor())
        return context
    }

    /// The context a stored `traceparent` value continues.
    public static func context(traceParent: String?) -> ServiceContext {
        guard let traceParent else { return .topLevel }
        return context(from: ["traceparent": traceParent])
    }

    struct DictionaryInjector: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
            carrier[key.lowercased()] = value
        }
    }

    struct DictionaryExtractor: Extractor {
        func extract(key: String, from carrier: [String: String]) -> String? {
            carrier[key.lowercased()]
        }
    }
}
