import Tracing

/// Manual spans for database work (PostgresNIO makes none): a child of `parent` named for the step, ended when
/// it returns or throws. Without a parent (or with tracing off) the step just runs.
enum DatabaseSpan {
    static func run<T>(_ name: String, in parent: (any Span)?, _ body: () async throws -> T) async throws -> T {
        guard let span = start(name, in: parent) else { return try await body() }
        defer { span.end() }
        do {
            return try await body()
        } catch {
            span.recordError(error)
            throw error
        }
    }

    /// The step's span, started and left for the caller to end; `nil` without a recording parent.
    static func start(_ name: String, in parent: (any Span)?) -> (any Span)? {
        guard let parent, parent.isRecording else { return nil }
        let span = startSpan(name, context: parent.context, ofKind: .client)
        span.attributes["db.system"] = "postgresql"
        return span
    }
}
