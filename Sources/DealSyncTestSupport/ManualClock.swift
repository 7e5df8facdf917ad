import Foundation
import Synchronization

/// A clock that moves only when the test moves it: the one clock of the tests, whatever shape the code under test
/// takes its time in (a Swift `Clock`, seconds, a `Date`).
///
/// A sleeper wakes once the clock reaches its deadline, so a test can read exactly how long the code under test
/// chose to wait (``pendingDelays``) and let that time pass at once. It may be moved back, as a skewed clock is.
public final class ManualClock: Clock, Sendable {
    public struct Instant: InstantProtocol {
        public var offset: Duration

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    /// The date the clock started at (``date``). The default is a millisecond a `Double` holds exactly, so moving
    /// by whole milliseconds stays exact.
    public let start: Date

    public init(start: Date = Date(timeIntervalSince1970: 1_795_428_000.125)) { self.start = start }

    private struct Sleeper {
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var nextID = 0
        var sleepers: [Int: Sleeper] = [:]
        /// Sleepers cancelled before they were registered.
        var cancelled: Set<Int> = []
    }

    private let state = Mutex(State())

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .zero }

    /// How far the clock has moved, in seconds.
    public var seconds: Double { Self.seconds(now.offset) }

    /// ``start`` moved on by as much as the clock has.
    public var date: Date { start.addingTimeInterval(seconds) }

    /// ``date`` in unix milliseconds.
    public var millis: Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    public static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let immediate: Result<Void, any Error>? = state.withLock { state in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let sleeper = state.withLock { state in
                let sleeper = state.sleepers.removeValue(forKey: id)
                if sleeper == nil { state.cancelled.insert(id) }
                return sleeper
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock by `millis` milliseconds (back when negative).
    public func advance(byMilliseconds millis: Int) { advance(by: .milliseconds(millis)) }

    /// Moves the clock by `seconds` (back when negative).
    public func advance(bySeconds seconds: Double) { advance(by: .milliseconds(Int64((seconds * 1000).rounded()))) }

    /// Moves the clock (back when `duration` is negative) and wakes every sleeper whose deadline it reached.
    public func advance(by duration: Duration) {
        let due = state.withLock { state in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { state.sleepers[id] = nil }
            return due.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    /// How long each sleeper still has to wait, shortest first.
    public var pendingDelays: [Duration] {
        state.withLock { state in state.sleepers.values.map { state.now.duration(to: $0.deadline) }.sorted() }
    }
}
