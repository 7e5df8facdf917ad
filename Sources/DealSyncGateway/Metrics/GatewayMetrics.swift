import CoreMetrics
import DealSyncCore
import Foundation
import Metrics
import Prometheus

/// Every metric the gateway exports, in Prometheus names, created from one factory so several gateways can
/// live in one process (tests) without a global bootstrap.
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // amoCRM gives a webhook 2 s: buckets around that edge tell on-call how close answers come to it.
        factory.durationHistogramBuckets["dealsync_webhook_duration_seconds"] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(1500), .seconds(2), .seconds(5),
        ]
        self.factory = factory
    }

    /// Creates every counter a connector can have at zero, and `dealsync_connector_info`, so the first event
    /// of each kind shows up in `increase()` and alert rules can tell connectors' kinds apart.
    public func register(connectors: [(id: String, kind: ConnectorKind)]) {
        for (id, kind) in connectors {
            gauge("dealsync_connector_info", [("connector", id), ("kind", kind.rawValue)]).record(1)
            for outcome in Self.webhookOutcomes where kind != .masterdeal || outcome != "ignored" {
                _ = counter("dealsync_webhooks_total", [("connector", id), ("outcome", outcome)])
            }
            for result in ["ok", "failed"] { _ = counter("dealsync_polls_total", [("connector", id), ("result", result)]) }
            for kind in DivergenceEntry.Kind.allCases {
                _ = counter("dealsync_divergence_total", [("connector", id), ("kind", kind.rawValue)])
            }
            for outcome in ["delivered", "retried", "dead_lettered", "stale", "paused", "taken_over"] {
                _ = counter("dealsync_deliveries_total", [("target", id), ("outcome", outcome)])
            }
            _ = counter("dealsync_dead_letters_total", [("target", id)])
            _ = counter("dealsync_auth_failures_total", [("connector", id)])
            _ = counter("dealsync_lane_rows_total", [("connector", id)])
            gauge("dealsync_connector_paused", [("connector", id)]).record(0)
        }
    }

    /// Creates the reload counters at zero and marks the configuration the process started with as loaded.
    public func registerReloads() {
        for result in ["accepted", "refused"] { _ = counter("dealsync_config_reloads_total", [("result", result)]) }
        gauge("dealsync_config_last_reload_successful", []).record(1)
    }

    /// `serve --watch-config` read the configuration files once more.
    func configWatched() {
        counter("dealsync_config_watch_reads_total", []).increment()
    }

    /// A configuration reload, accepted or refused; the last one's result stays in the gauge until the next.
    func configReload(result: String) {
        counter("dealsync_config_reloads_total", [("result", result)]).increment()
        gauge("dealsync_config_last_reload_successful", []).record(result == "accepted" ? 1 : 0)
    }

    // MARK: Lanes

    /// A connector a reload removed: no longer configured (its counters stay, as counters do).
    public func unregister(connector id: String, kind: ConnectorKind) {
        gauge("dealsync_connector_info", [("connector", id), ("kind", kind.rawValue)]).record(0)
    }

    /// Creates the lane metrics at zero for the lanes this process can run.
    func registerLanes(_ lanes: [String]) {
        for lane in lanes { gauge("dealsync_lane_running", [("connector", lane)]).record(0) }
        for event in ["acquired", "released", "ended", "lost", "removed"] { _ = counter("dealsync_lane_changes_total", [("event", event)]) }
        gauge("dealsync_lanes_running", []).record(0)
        gauge("dealsync_lane_hosts", []).record(0)
    }

    /// Whether this process runs `lane` now; a lane acquired, released, ended (its services stopped or failed),
    /// lost (with the lock's connection) or removed (by a reload).
    func lane(_ lane: String, running: Bool, event: String) {
        gauge("dealsync_lane_running", [("connector", lane)]).record(running ? 1 : 0)
        counter("dealsync_lane_changes_total", [("event", event)]).increment()
    }

    /// How many lanes this process runs and how many lane hosts (`serve` processes running lanes) it sees.
    func lanes(running: Int, hosts: Int) {
        gauge("dealsync_lanes_running", []).record(running)
        gauge("dealsync_lane_hosts", []).record(hosts)
    }

    static let webhookOutcomes = [
        "accepted", "duplicate", "ignored", "not_found", "too_large", "unsupported_media_type", "incomplete", "store_failed",
        "rejected_unauthorized", "rejected_stale", "rejected_malformed",
    ]

    /// The text exposition for `/metrics`.
    public func exposition() -> String { registry.emitToString() }

    /// A family's Prometheus type.
    public enum Family: Sendable {
        case counter, gauge, histogram
    }

    /// Every metric family the gateway exports: the contract the alert rules, the dashboard and the runbooks are
    /// written against. A family the code creates must be listed here (checked when it is created, in debug builds).
    public static let families: [String: Family] = [
        "dealsync_auth_failures_total": .counter, "dealsync_config_reloads_total": .counter,
        "dealsync_config_watch_reads_total": .counter, "dealsync_dead_letters_total": .counter,
        "dealsync_deliveries_total": .counter, "dealsync_divergence_total": .counter, "dealsync_drift_detected_total": .counter,
        "dealsync_drift_repaired_total": .counter, "dealsync_inbox_processed_total": .counter,
        "dealsync_kafka_consumed_total": .counter, "dealsync_kafka_consumer_errors_total": .counter,
        "dealsync_kafka_published_total": .counter, "dealsync_kafka_store_failures_total": .counter,
        "dealsync_lane_changes_total": .counter, "dealsync_lane_claims_total": .counter, "dealsync_lane_rows_total": .counter,
        "dealsync_limiter_wait_seconds_total": .counter, "dealsync_poll_items_total": .counter, "dealsync_polls_total": .counter,
        "dealsync_records_compared_total": .counter, "dealsync_retries_total": .counter, "dealsync_webhooks_total": .counter,
        "dealsync_breaker_state": .gauge, "dealsync_config_last_reload_successful": .gauge, "dealsync_connector_info": .gauge,
        "dealsync_connector_paused": .gauge, "dealsync_dead_letters_open": .gauge, "dealsync_drift_oldest_open_seconds": .gauge,
        "dealsync_drift_open": .gauge, "dealsync_inbox_oldest_seconds": .gauge, "dealsync_inbox_pending": .gauge,
        "dealsync_kafka_consumer_lag": .gauge, "dealsync_kafka_partition_assigned": .gauge,
        "dealsync_lane_hosts": .gauge, "dealsync_lane_running": .gauge, "dealsync_lanes_running": .gauge,
        "dealsync_outbox_depth": .gauge, "dealsync_outbox_oldest_seconds": .gauge, "dealsync_rate_limit_share": .gauge,
        "dealsync_sweep_duration_seconds": .gauge, "dealsync_sweep_last_completed_timestamp_seconds": .gauge,
        "dealsync_sweep_progress_ratio": .gauge, "dealsync_onboarding_progress_ratio": .gauge,
        "dealsync_onboarding_writes_waiting": .gauge,
        "dealsync_kafka_publish_seconds": .histogram, "dealsync_lane_batch_seconds": .histogram,
        "dealsync_relay_phase_seconds": .histogram, "dealsync_webhook_duration_seconds": .histogram,
    ]

    func counter(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
        assert(Self.families[label] == .counter, "\(label) is not a counter of GatewayMetrics.families")
        return CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory)
    }

    func gauge(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Gauge {
        assert(Self.families[label] == .gauge, "\(label) is not a gauge of GatewayMetrics.families")
        return CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory)
    }

    func timer(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Timer {
        assert(Self.families[label] == .histogram, "\(label) is not a histogram of GatewayMetrics.families")
        return CoreMetrics.Timer(label: label, dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory)
    }

    // MARK: Intake

    func webhook(_ connector: String, outcome: String) {
        counter("dealsync_webhooks_total", [("connector", connector), ("outcome", outcome)]).increment()
    }

    func webhookDuration(_ connector: String, _ duration: Duration) {
        timer("dealsync_webhook_duration_seconds", [("connector", connector)]).recordNanoseconds(Self.nanos(duration))
    }

    func inbox(_ connector: String, result: String, count: Int = 1) {
        counter("dealsync_inbox_processed_total", [("connector", connector), ("result", result)]).increment(by: count)
    }

    /// A lane's claim: `found` is false when it found nothing due (each such claim is a transaction spent).
    func laneClaim(_ connector: String, found: Bool) {
        counter("dealsync_lane_claims_total", [("connector", connector), ("found", found ? "rows" : "none")]).increment()
    }

    /// One batch of a connector's inbox lane: how many rows it decided and how long its transaction took.
    func laneBatch(_ connector: String, rows: Int, seconds: Double) {
        counter("dealsync_lane_rows_total", [("connector", connector)]).increment(by: rows)
        timer("dealsync_lane_batch_seconds", [("connector", connector)]).recordNanoseconds(Int64(seconds * 1e9))
    }

    func poll(_ connector: String, result: String, items: Int = 0) {
        counter("dealsync_polls_total", [("connector", connector), ("result", result)]).increment()
        if items > 0 { counter("dealsync_poll_items_total", [("connector", connector)]).increment(by: items) }
    }

    func divergence(_ connector: String, kind: String, count: Int = 1) {
        counter("dealsync_divergence_total", [("connector", connector), ("kind", kind)]).increment(by: count)
    }

    // MARK: Delivery

    func delivery(_ target: String, outcome: String, count: Int = 1) {
        counter("dealsync_deliveries_total", [("target", target), ("outcome", outcome)]).increment(by: count)
    }

    func retry(_ target: String, errorClass: String) {
        counter("dealsync_retries_total", [("target", target), ("error_class", errorClass)]).increment()
    }

    func deadLetters(_ target: String, count: Int) {
        counter("dealsync_dead_letters_total", [("target", target)]).increment(by: count)
    }

    /// One phase of a relay round (`claim`, `send`, `record`): where a target's delivery time goes.
    /// `relay` tells MasterDeal's express relay (`express`, the lanes with little pending) from the others (`regular`).
    func relayPhase(_ target: String, phase: String, relay: String, _ duration: Duration) {
        timer("dealsync_relay_phase_seconds", [("target", target), ("phase", phase), ("relay", relay)])
            .recordNanoseconds(Self.nanos(duration))
    }

    func limiterWait(_ connector: String, _ duration: Duration) {
        assert(Self.families["dealsync_limiter_wait_seconds_total"] == .counter)
        FloatingPointCounter(label: "dealsync_limiter_wait_seconds_total", dimensions: [("connector", connector)], factory: factory)
            .increment(by: Double(Self.nanos(duration)) / 1e9)
    }

    func breaker(_ target: String, state: Int) {
        gauge("dealsync_breaker_state", [("target", target)]).record(state)
    }

    /// The part of a shared rate limit this process uses (1/N with N processes).
    /// The latest onboarding run of a connector: how much of its plan is applied, and its writes still waiting.
    func onboarding(_ connector: String, progress: Double, writesWaiting: Int) {
        gauge("dealsync_onboarding_progress_ratio", [("connector", connector)]).record(progress)
        gauge("dealsync_onboarding_writes_waiting", [("connector", connector)]).record(writesWaiting)
    }

    func rateShare(_ connector: String, _ share: Double) {
        gauge("dealsync_rate_limit_share", [("connector", connector)]).record(share)
    }

    func paused(_ connector: String, _ paused: Bool) {
        gauge("dealsync_connector_paused", [("connector", connector)]).record(paused ? 1 : 0)
    }

    func authFailure(_ connector: String) {
        counter("dealsync_auth_failures_total", [("connector", connector)]).increment()
    }

    // MARK: Drift

    func driftDetected(_ connector: String, field: String) {
        counter("dealsync_drift_detected_total", [("connector", connector), ("field", field)]).increment()
        divergence(connector, kind: "drift")
    }

    func driftRepaired(_ connector: String, field: String) {
        counter("dealsync_drift_repaired_total", [("connector", connector), ("field", field)]).increment()
    }

    func driftOpen(_ connector: String, field: String, count: Int) {
        gauge("dealsync_drift_open", [("connector", connector), ("field", field)]).record(count)
    }

    func driftOldest(_ connector: String, seconds: Double) {
        gauge("dealsync_drift_oldest_open_seconds", [("connector", connector)]).record(seconds)
    }

    func sweepProgress(_ connector: String, _ ratio: Double) {
        gauge("dealsync_sweep_progress_ratio", [("connector", connector)]).record(ratio)
    }

    func sweepCompleted(_ connector: String, duration: Duration) {
        gauge("dealsync_sweep_duration_seconds", [("connector", connector)]).record(Double(Self.nanos(duration)) / 1e9)
        gauge("dealsync_sweep_last_completed_timestamp_seconds", [("connector", connector)]).record(Date().timeIntervalSince1970)
    }

    func recordsCompared(_ connector: String, count: Int) {
        counter("dealsync_records_compared_total", [("connector", connector)]).increment(by: count)
    }

    // MARK: Kafka

    /// Creates the Kafka counters of a connector that uses the bus at zero.
    public func registerKafka(connector: String, consumes: Bool, publishes: Bool) {
        if consumes {
            for outcome in ["stored", "duplicate", "refused"] {
                _ = counter("dealsync_kafka_consumed_total", [("connector", connector), ("outcome", outcome)])
            }
            _ = counter("dealsync_kafka_consumer_errors_total", [("connector", connector)])
            _ = counter("dealsync_kafka_store_failures_total", [("connector", connector)])
        }
        if publishes {
            for outcome in ["acknowledged", "failed"] {
                _ = counter("dealsync_kafka_published_total", [("connector", connector), ("outcome", outcome)])
            }
        }
    }

    func kafkaConsumed(_ connector: String, outcome: String, count: Int) {
        guard count > 0 else { return }
        counter("dealsync_kafka_consumed_total", [("connector", connector), ("outcome", outcome)]).increment(by: count)
    }

    func kafkaConsumerError(_ connector: String) {
        counter("dealsync_kafka_consumer_errors_total", [("connector", connector)]).increment()
    }

    func kafkaStoreFailure(_ connector: String) {
        counter("dealsync_kafka_store_failures_total", [("connector", connector)]).increment()
    }

    /// Messages waiting in a partition this process reads, past what it consumed (0 once the partition went to
    /// another member, which reports it from then on).
    func kafkaLag(_ connector: String, partition: KafkaPartitionLabel, lag: Int64) {
        gauge(
            "dealsync_kafka_consumer_lag", [("connector", connector), ("topic", partition.topic), ("partition", "\(partition.partition)")]
        )
        .record(lag)
    }

    /// Whether this process holds a partition of the events topic now (1) or held it before (0).
    func kafkaAssigned(_ connector: String, partition: KafkaPartitionLabel, _ assigned: Bool) {
        gauge(
            "dealsync_kafka_partition_assigned",
            [("connector", connector), ("topic", partition.topic), ("partition", "\(partition.partition)")]
        )
        .record(assigned ? 1 : 0)
    }

    /// A batch of writes published to Kafka: how many the brokers acknowledged, how many failed, and how long the
    /// batch took from the first send to the last acknowledgement.
    public func kafkaPublished(_ connector: String, acknowledged: Int, failed: Int, seconds: Double) {
        if acknowledged > 0 {
            counter("dealsync_kafka_published_total", [("connector", connector), ("outcome", "acknowledged")]).increment(by: acknowledged)
        }
        if failed > 0 {
            counter("dealsync_kafka_published_total", [("connector", connector), ("outcome", "failed")]).increment(by: failed)
        }
        timer("dealsync_kafka_publish_seconds", [("connector", connector)]).recordNanoseconds(Int64(seconds * 1e9))
    }

    // MARK: Gauges refreshed from the database

    func outboxDepth(_ target: String, open: Int, oldestSeconds: Double) {
        gauge("dealsync_outbox_depth", [("target", target)]).record(open)
        gauge("dealsync_outbox_oldest_seconds", [("target", target)]).record(oldestSeconds)
    }

    func inboxBacklog(_ connector: String, pending: Int, oldestSeconds: Double) {
        gauge("dealsync_inbox_pending", [("connector", connector)]).record(pending)
        gauge("dealsync_inbox_oldest_seconds", [("connector", connector)]).record(oldestSeconds)
    }

    func openDeadLetters(_ target: String, count: Int) {
        gauge("dealsync_dead_letters_open", [("target", target)]).record(count)
    }

    static func nanos(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

/// A topic partition as a metric's labels.
struct KafkaPartitionLabel: Sendable, Hashable {
    var topic: String
    var partition: Int32
}
