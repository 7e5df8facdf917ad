extension Bitrix24Simulator {
    /// The portal's two REST limits and the batch length.
    ///
    /// The leaky bucket counts HTTP requests per portal (a `batch` is one); the operating limit sums the execution
    /// time of each method per application or webhook over ten one-minute buckets.
    public struct Limits: Sendable, Equatable {
        /// Requests the bucket holds before it answers 503 `QUERY_LIMIT_EXCEEDED` (50; Enterprise 250).
        public var bucketCapacity: Int
        /// Requests the bucket drains per second (2; Enterprise 5).
        public var drainPerSecond: Double
        /// Seconds of execution time a method may accumulate within the window before it answers 429
        /// `OPERATION_TIME_LIMIT` (480 in the cloud); `nil` switches the limit off.
        public var operatingBudgetSeconds: Double?
        /// The operating window, ten minutes at Bitrix24, kept in ten one-minute buckets.
        public var operatingWindow: Duration
        /// Multiplies the operating window (tests run ten minutes in a second).
        public var timeScale: Double
        /// What each call costs in simulated execution seconds.
        public var cost: OperatingCost
        /// Commands one `batch` may carry (50).
        public var maxBatchCommands: Int
        public var batchOverflow: BatchOverflow

        public init(bucketCapacity: Int = 50, drainPerSecond: Double = 2, operatingBudgetSeconds: Double? = 480,
                    operatingWindow: Duration = .seconds(600), timeScale: Double = 1, cost: OperatingCost = OperatingCost(),
                    maxBatchCommands: Int = 50, batchOverflow: BatchOverflow = .failExtraCommands) {
            self.bucketCapacity = bucketCapacity
            self.drainPerSecond = drainPerSecond
            self.operatingBudgetSeconds = operatingBudgetSeconds
            self.operatingWindow = operatingWindow
            self.timeScale = timeScale
            self.cost = cost
            self.maxBatchCommands = maxBatchCommands
            self.batchOverflow = batchOverflow
        }

        /// Every plan but Enterprise: 2 requests/s, 50 in a burst.
        public static var standard: Limits { Limits() }
        /// Enterprise: 5 requests/s, 250 in a burst.
        public static var enterprise: Limits { Limits(bucketCapacity: 250, drainPerSecond: 5) }
        /// Limits so high they never interfere (functional tests).
        public static var unlimited: Limits {
            Limits(bucketCapacity: 1_000_000, drainPerSecond: 1_000_000, operatingBudgetSeconds: nil)
        }
    }

    /// Simulated execution time of one call, in seconds: `perCall + perRow × rows returned`, plus
    /// `perCountedRow × rows matched` when a list method counts its total (any `start` but -1).
    public struct OperatingCost: Sendable, Equatable {
        public var perCall: Double
        public var perRow: Double
        public var perCountedRow: Double

        public init(perCall: Double = 0.005, perRow: Double = 0.001, perCountedRow: Double = 0.0002) {
            self.perCall = perCall
            self.perRow = perRow
            self.perCountedRow = perCountedRow
        }
    }

    /// What a `batch` with more than ``Limits/maxBatchCommands`` commands gets.
    public enum BatchOverflow: String, Sendable, Equatable {
        /// The current documentation: the first 50 run, each extra command ends with `ERROR_BATCH_LENGTH_EXCEEDED`
        /// in `result_error`, and the batch still answers 200.
        case failExtraCommands
        /// The older behaviour: the whole batch answers 400 `ERROR_BATCH_LENGTH_EXCEEDED` and nothing runs.
        case rejectBatch
    }
}
