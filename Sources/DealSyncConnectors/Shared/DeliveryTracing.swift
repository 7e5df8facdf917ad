import DealSyncCore
import Foundation
import Tracing

/// Spans for a connector's deliveries when one call carries many writes (amoCRM's batch `PATCH`, Bitrix24's
/// `batch`): one span for the call, in the trace of its first traced write, linked to the traces of the others,
/// so each change's story reaches the request that carried it. The HTTP client's spans are its children.
enum DeliveryTracing {
    static func traced(
        _ deliveries: [Delivery], target: String, _ body: () async -> [DeliveryOutcome]
    ) async -> [DeliveryOutcome] {
        let traced = deliveries.filter { $0.traceParent != nil }
        let parent = TraceContext.context(traceParent: traced.first?.traceParent)
        return await withSpan("deliver \(deliveries.count) to \(target)", context: parent, ofKind: .client) { span in
            span.attributes["dealsync.target"] = target
            span.attributes["dealsync.writes"] = deliveries.count
            for delivery in traced.dropFirst() {
                span.addLink(
                    SpanLink(
                        context: TraceContext.context(traceParent: delivery.traceParent),
                        attributes: ["dealsync.lineage_id": .string(delivery.lineageID.uuidString.lowercased())]))
            }
            let outcomes = await body()
            var counts: [String: Int] = [:]
            for outcome in outcomes { counts[outcome.name, default: 0] += 1 }
            for (name, count) in counts { span.attributes["dealsync.outcome.\(name)"] = count }
            return outcomes
        }
    }
}
