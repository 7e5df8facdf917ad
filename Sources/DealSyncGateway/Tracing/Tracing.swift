import Foundation
import Logging
import OTel
import ServiceLifecycle

/// OpenTelemetry traces for `serve` and `demo`: off unless the standard `OTEL_*` variables ask for them
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER`; `OTEL_SDK_DISABLED=true`
/// turns them off again). Only traces are bootstrapped: dealsync's logs and Prometheus metrics have their own.
///
/// Call it before the gateway is made: the HTTP client takes the tracer that exists when it is configured.
public enum DealSyncTracing {
    /// Whether `environment` asks for traces.
    public static func isRequested(by environment: [String: String]) -> Bool {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return false }
        if environment["OTEL_TRACES_EXPORTER"].map({ $0.lowercased() == "none" }) == true { return false }
        return ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"]
            .contains { !(environment[$0] ?? "").isEmpty }
    }

    /// Bootstraps tracing when asked for, and returns the exporter's service to run with the others (it flushes
    /// what is buffered when the group stops); `nil` when tracing stays off.
    public static func bootstrap(
        environment: [String: String] = ProcessInfo.processInfo.environment, serviceName: String = "dealsync"
    )
        throws -> (any Service)?
    {
        guard isRequested(by: environment) else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        return try OTel.bootstrap(configuration: configuration, environment: environment)
    }

    /// Adds `trace_id` and `span_id` of the current span to log lines.
    public static var loggingMetadata: Logger.MetadataProvider { OTel.makeLoggingMetadataProvider() }
}
