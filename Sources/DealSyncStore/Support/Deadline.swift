import Synchronization

/// Runs `body`, but gives up after `limit`: throws ``DeadlinePassed`` at once and cancels `body`.
///
/// Unlike a task group racing a timer, the answer does not wait for `body` to notice its cancellation: a query on a
/// connection whose server went away may not notice for a long time, and a caller who was promised an answer
/// within `limit` gets it. `body` may still be running (and finish) in the background.
public func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation, limit: limit, body: body)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// What ``withDeadline(_:_:)`` throws when `body` took longer than the limit.
public struct DeadlinePassed: Error, CustomStringConvertible, Sendable {
    public var limit: Duration
    public var description: String { "no answer within \(limit)" }
}

/// The continuation is resumed exactly once: by the body, the timer (when there is a limit) or the caller's
/// cancellation, whichever comes first; the other two are cancelled.
final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var finished = false
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    func start(
        _ continuation: CheckedContinuation<T, any Error>, limit: Duration?,
        body: @escaping @Sendable () async throws -> T
    ) {
        let cancelledAlready = state.withLock { s -> Bool in
            if s.finished { return true }
            s.continuation = continuation
            return false
        }
        if cancelledAlready {
            continuation.resume(throwing: CancellationError())
            return
        }
        let work = Task {
            do { self.finish(.success(try await body())) } catch { self.finish(.failure(error)) }
        }
        let timer = Task {
            guard let limit else { return }
            try? await Task.sleep(for: limit)
            if Task.isCancelled { return }
            self.finish(.failure(DeadlinePassed(limit: limit)))
        }
        let finishedMeanwhile = state.withLock { s -> Bool in
            s.tasks = [work, timer]
            return s.finished
        }
        if finishedMeanwhile {
            work.cancel()
            timer.cancel()
        }
    }

    /// Ends the race with `result`; returns whether this call ended it (false when it had ended already).
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (ended, continuation, tasks) = state.withLock { s -> (Bool, CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard !s.finished else { return (false, nil, []) }
            s.finished = true
            defer { s.continuation = nil }
            return (true, s.continuation, s.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(with: result)
        return ended
    }
}
