import DealSyncCore
import Foundation
import Hummingbird
import Synchronization

/// Fault knobs a test, benchmark or demo turns at run time (`PUT /_sim/faults` or ``FaultInjector/update(_:)``).
public struct FaultSettings: Codable, Sendable, Equatable {
    /// Extra latency added to every API request, in milliseconds.
    public var latencyMillis: Int = 0
    /// Share of API requests answered with a server error (0...1).
    public var errorRate: Double = 0
    /// Share of API requests answered with the service's rate-limit response (0...1).
    public var rateLimitRate: Double = 0
    /// `Retry-After` seconds on simulated rate-limit answers, where the real service sends one.
    public var retryAfterSeconds: Int? = 1
    /// Share of API requests that hang for ``hangMillis`` before an error, to exercise client timeouts.
    public var timeoutRate: Double = 0
    public var hangMillis: Int = 30_000
    /// While true, every API request is answered as if the service were down.
    public var down: Bool = false
    /// While true, every request that would change something (any method but GET and HEAD, OAuth token requests
    /// apart) is answered as if the service were down, and reads go through: a CRM whose writes fail. (Bitrix24
    /// reads with POST too, so there it is the same as ``down``.)
    public var writesDown: Bool = false
    /// Down windows relative to when the settings were applied.
    public var downtime: [Window] = []
    /// Seed for reproducible fault sequences; random when absent.
    public var seed: UInt64?

    public struct Window: Codable, Sendable, Equatable {
        public var startMillis: Int
        public var durationMillis: Int

        public init(startMillis: Int, durationMillis: Int) {
            self.startMillis = startMillis
            self.durationMillis = durationMillis
        }

        enum CodingKeys: String, CodingKey {
            case startMillis = "start_ms"
            case durationMillis = "duration_ms"
        }
    }

    public init() {}

    enum CodingKeys: String, CodingKey {
        case latencyMillis = "latency_ms"
        case errorRate = "error_rate"
        case rateLimitRate = "rate_limit_rate"
        case retryAfterSeconds = "retry_after_s"
        case timeoutRate = "timeout_rate"
        case hangMillis = "hang_ms"
        case down, downtime, seed
        case writesDown = "writes_down"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        latencyMillis = try c.decodeIfPresent(Int.self, forKey: .latencyMillis) ?? 0
        errorRate = try c.decodeIfPresent(Double.self, forKey: .errorRate) ?? 0
        rateLimitRate = try c.decodeIfPresent(Double.self, forKey: .rateLimitRate) ?? 0
        retryAfterSeconds = try c.decodeIfPresent(Int.self, forKey: .retryAfterSeconds) ?? 1
        timeoutRate = try c.decodeIfPresent(Double.self, forKey: .timeoutRate) ?? 0
        hangMillis = try c.decodeIfPresent(Int.self, forKey: .hangMillis) ?? 30_000
        down = try c.decodeIfPresent(Bool.self, forKey: .down) ?? false
        writesDown = try c.decodeIfPresent(Bool.self, forKey: .writesDown) ?? false
        downtime = try c.decodeIfPresent([Window].self, forKey: .downtime) ?? []
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
    }
}

/// Decides, per API request, which fault (if any) the simulator plays.
public final class FaultInjector: Sendable {
    public enum Fault: Sendable, Equatable {
        case none
        case serverError
        case rateLimited(retryAfterSeconds: Int?)
        case hang(milliseconds: Int)
        case down
    }

    private struct State {
        var settings = FaultSettings()
        var appliedAt = ContinuousClock.now
        var random = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
    }

    private let state = Mutex(State())

    public init(_ settings: FaultSettings = FaultSettings()) {
        update(settings)
    }

    public var settings: FaultSettings { state.withLock { $0.settings } }

    public func update(_ settings: FaultSettings) {
        state.withLock {
            $0.settings = settings
            $0.appliedAt = .now
            $0.random = SplitMix64(seed: settings.seed ?? UInt64.random(in: 0...UInt64.max))
        }
    }

    /// Whether `request` would change something (``FaultSettings/writesDown``): any method but GET and HEAD, OAuth
    /// token requests apart.
    public static func changes(_ request: Request) -> Bool {
        request.method != .get && request.method != .head && !request.uri.path.contains("oauth")
    }

    /// The latency to add and the fault to play for the next request (`changes`: whether it would change something).
    public func next(changes: Bool = false) -> (latencyMillis: Int, fault: Fault) {
        state.withLock { state in
            let s = state.settings
            let elapsed = state.appliedAt.duration(to: .now)
            let elapsedMillis = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            if s.down || (s.writesDown && changes)
                || s.downtime.contains(where: { elapsedMillis >= $0.startMillis && elapsedMillis < $0.startMillis + $0.durationMillis })
            {
                return (s.latencyMillis, .down)
            }
            let roll = state.random.unit()
            if roll < s.errorRate { return (s.latencyMillis, .serverError) }
            if roll < s.errorRate + s.rateLimitRate { return (s.latencyMillis, .rateLimited(retryAfterSeconds: s.retryAfterSeconds)) }
            if roll < s.errorRate + s.rateLimitRate + s.timeoutRate { return (s.latencyMillis, .hang(milliseconds: s.hangMillis)) }
            return (s.latencyMillis, .none)
        }
    }
}

/// Plays the injector's faults in front of a simulator's API routes.
///
/// `render` turns a fault into the response the real service would give (amoCRM's HTML 429, Bitrix24's
/// `QUERY_LIMIT_EXCEEDED`, MasterDeal's problem+json).
public struct FaultMiddleware<Context: RequestContext>: RouterMiddleware {
    let injector: FaultInjector
    let render: @Sendable (FaultInjector.Fault) -> Response

    public init(injector: FaultInjector, render: @escaping @Sendable (FaultInjector.Fault) -> Response) {
        self.injector = injector
        self.render = render
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path.hasPrefix("/_sim/") { return try await next(request, context) }
        let (latency, fault) = injector.next(changes: FaultInjector.changes(request))
        if latency > 0 { try await Task.sleep(for: .milliseconds(latency)) }
        switch fault {
        case .none:
            return try await next(request, context)
        case .hang(let millis):
            try await Task.sleep(for: .milliseconds(millis))
            return render(.serverError)
        default:
            return render(fault)
        }
    }
}
