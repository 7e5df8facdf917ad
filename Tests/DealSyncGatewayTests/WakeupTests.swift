import DealSyncGateway
import DealSyncStore
import Foundation
import Synchronization
import Testing

/// The hint the intake workers and the relays sleep on. A waiter must always come back: on a signal, on its
/// timeout, and when its task is cancelled (as every loop's task is when the gateway shuts down), however those
/// race each other. A waiter that never came back held a gateway's shutdown forever.
@Suite struct WakeupTests {
    @Test func aSignalWakesEveryWaiterThatIsWaiting() async throws {
        let wakeup = Wakeup()
        let woken = Counter()
        try await Self.within(.seconds(20), "three waiters woken by signals") {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        await wakeup.wait(timeout: .seconds(600))
                        woken.add()
                    }
                }
                // Signal until all three are back: one signal wakes all that are waiting by then, and a waiter
                // that starts late (a loaded machine) is woken by a later one.
                while woken.value < 3 {
                    wakeup.signal()
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }
    }

    @Test func aSignalWithNobodyWaitingWakesTheNextWaiter() async throws {
        let wakeup = Wakeup()
        wakeup.signal()
        try await Self.within(.seconds(10), "the waiter after the signal") { await wakeup.wait(timeout: .seconds(60)) }
        // The hint is used up: the next waiter sleeps until its timeout.
        let clock = ContinuousClock()
        let slept = await clock.measure { await wakeup.wait(timeout: .milliseconds(200)) }
        #expect(slept >= .milliseconds(200))
    }

    /// Relays of one target share a wakeup, and one of them is enough to look: `signalOne` wakes one waiter at a time,
    /// or leaves a hint for the next one to wait, which `takeSignal` (a loop that is busy) uses up.
    @Test func signalOneWakesOneWaiterAtATime() async throws {
        let wakeup = Wakeup()
        let woken = Counter()
        try await Self.within(.seconds(20), "three waiters woken one at a time") {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        await wakeup.wait(timeout: .seconds(600))
                        woken.add()
                    }
                }
                while wakeup.waiting < 3 { try? await Task.sleep(for: .milliseconds(10)) }
                wakeup.signalOne()
                while woken.value < 1 { try? await Task.sleep(for: .milliseconds(10)) }
                try? await Task.sleep(for: .milliseconds(100))
                #expect(woken.value == 1)
                #expect(wakeup.waiting == 2)
                wakeup.signalOne()
                wakeup.signalOne()
            }
        }
        #expect(woken.value == 3)
        wakeup.signalOne()
        #expect(wakeup.takeSignal(), "a hint left while nobody waited")
        #expect(!wakeup.takeSignal(), "used up")
    }

    /// Waiters whose timeouts run out at once, alone or among others: none is left behind.
    @Test(arguments: [1, 4]) func waitersRacingTheirTimeoutsAllComeBack(tasks: Int) async throws {
        let wakeup = Wakeup()
        try await Self.within(.seconds(20), "2,000 waits with tiny timeouts on \(tasks) task(s)") {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<tasks {
                    group.addTask { for _ in 0..<(2_000 / tasks) { await wakeup.wait(timeout: .microseconds(20)) } }
                }
            }
        }
    }

    /// A cancelled waiter returns at once, even when it is cancelled before it has begun to wait.
    @Test func aCancelledWaiterAlwaysComesBack() async throws {
        let wakeup = Wakeup()
        try await Self.within(.seconds(20), "1,000 waiters cancelled as they start") {
            for _ in 0..<1_000 {
                let task = Task { await wakeup.wait(timeout: .seconds(600)) }
                task.cancel()
                await task.value
            }
        }
    }

    /// Runs `body`, failing with `what` if it has not returned within `limit`. A lost waiter never returns, so
    /// the body runs in a task of its own that the test can leave behind.
    static func within(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async -> Void) async throws {
        let finished = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let once = Once(continuation)
            Task {
                await body()
                once.resume(returning: true)
            }
            Task {
                try? await Task.sleep(for: limit)
                once.resume(returning: false)
            }
        }
        #expect(finished, "\(what): still waiting after \(limit)")
    }
}

/// A continuation resumed by whichever comes first.
private final class Once: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) { self.continuation = Mutex(continuation) }

    func resume(returning value: Bool) { continuation.withLock { $0.take() }?.resume(returning: value) }
}

private final class Counter: Sendable {
    private let count = Mutex(0)

    func add() { count.withLock { $0 += 1 } }

    var value: Int { count.withLock { $0 } }
}
