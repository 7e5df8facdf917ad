import Foundation

extension MasterDealSimulator {
    /// Where events go: a URL and the secret their `X-Signature` is computed with.
    public struct EventTarget: Sendable, Codable, Equatable {
        public var url: String
        public var secret: String

        public init(url: String, secret: String) {
            self.url = url
            self.secret = secret
        }
    }

    /// How the simulator behaves; every member has a default.
    public struct Configuration: Sendable {
        /// Bearer token → client name (the client name is the `source` of events its writes cause).
        public var tokens: [String: String] = ["md-dev-token": "dealsync"]
        /// The canonical funnel's stage names.
        public var stages: [String] = ["lead", "qualified", "proposal", "won", "active", "closed", "lost"]
        /// from → allowed targets; nil allows any transition between known stages.
        public var transitions: [String: [String]]? = nil
        public var wonStages: [String] = ["won"]
        public var lostStages: [String] = ["lost"]
        public var eventTargets: [EventTarget] = []
        /// Deals present at start (``MasterDealSimulator/loadSeedDeals(from:)`` reads them from a JSON file).
        public var seedDeals: [Deal] = []
        /// Multiplies the event retry delays (1 s, 2 s, 5 s, 10 s, 30 s, 60 s); tests use 0.01.
        public var eventTimeScale: Double = 1
        /// How long an event target may take before the attempt counts as failed.
        public var eventTimeout: Duration = .seconds(10)
        /// How long an `Idempotency-Key` is remembered.
        public var idempotencyRetention: Duration = .seconds(24 * 3600)
        public var faults = FaultSettings()
        /// The simulator's clock; tests freeze it so many deals share one `updated_at` millisecond.
        public var clock: @Sendable () -> Date = { Date() }

        public init() {}

        public init(
            tokens: [String: String] = ["md-dev-token": "dealsync"],
            stages: [String] = ["lead", "qualified", "proposal", "won", "active", "closed", "lost"],
            transitions: [String: [String]]? = nil,
            wonStages: [String] = ["won"],
            lostStages: [String] = ["lost"],
            eventTargets: [EventTarget] = [],
            seedDeals: [Deal] = [],
            eventTimeScale: Double = 1,
            faults: FaultSettings = FaultSettings()
        ) {
            self.tokens = tokens
            self.stages = stages
            self.transitions = transitions
            self.wonStages = wonStages
            self.lostStages = lostStages
            self.eventTargets = eventTargets
            self.seedDeals = seedDeals
            self.eventTimeScale = eventTimeScale
            self.faults = faults
        }
    }

    /// Reads seed deals from a JSON file: an array of deals in the wire form, or `{"items": [...]}`.
    ///
    /// `id`, `version`, `created_at` and `updated_at` may be omitted (a new id, 1, and now).
    public static func loadSeedDeals(from path: String, now: Date = Date()) throws -> [Deal] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SimulatorError("cannot read the seed file \(path)")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(data)
        } catch {
            throw SimulatorError("the seed file \(path) is not valid JSON")
        }
        guard let items = json.arrayValue ?? json["items"]?.arrayValue else {
            throw SimulatorError("the seed file \(path) must hold an array of deals or {\"items\": [...]}")
        }
        return try items.enumerated().map { index, item in
            do {
                return try Deal(seed: item, now: WireTime.millis(now))
            } catch let problem as Problem {
                throw SimulatorError("seed deal \(index) in \(path): \(problem.detail)")
            }
        }
    }
}
