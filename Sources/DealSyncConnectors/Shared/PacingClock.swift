/// The time a connector paces itself by: a monotonic reading in seconds and a way to wait. Production waits in real
/// time; tests pass one that moves a simulator's limits instead, so a ten-minute pause takes no time.
public struct PacingClock: Sendable {
    public var now: @Sendable () -> Double
    public var sleep: @Sendable (Duration) async throws -> Void

    public init(now: @escaping @Sendable () -> Double, sleep: @escaping @Sendable (Duration) async throws -> Void) {
        self.now = now
        self.sleep = sleep
    }

    /// `ContinuousClock` and `Task.sleep`.
    public static let continuous: PacingClock = {
        let origin = ContinuousClock.now
        return PacingClock(
            now: {
                let elapsed = ContinuousClock.now - origin
                return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            },
            sleep: { try await Task.sleep(for: $0) })
    }()
}
