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

        public init(
            bucketCapacity: Int = 50, drainPerSecond: Double = 2, operatingBudgetSeconds: Double? = 480,
            operatingWindow: Duration = .seconds(600), timeScale: Double = 1, cost: OperatingCost = OperatingCost(),
            maxBatchCommands: Int = 50, batchOverflow: BatchOverflow = .failExtraCommands
        ) {
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

    /// Simulated execution time of one call, in seconds: `perCall + perRow × rows returned + perWrite × rows written`,
    /// plus `perCountedRow × rows matched` when a list method counts its total (any `start` but -1). A `batch` costs
    /// what its commands cost, each charged to its own method as well.
    ///
    /// The defaults follow what real portals report: a `batch` of 50 `crm.deal.get` about a second, a deal write a
    /// quarter of a second more than a read, so a run of writes reaches the 480 s budget within a minute or two while
    /// reads alone hardly do.
    public struct OperatingCost: Sendable, Equatable {
        public var perCall: Double
        public var perRow: Double
        public var perCountedRow: Double
        public var perWrite: Double

        public init(perCall: Double = 0.02, perRow: Double = 0.001, perCountedRow: Double = 0.0002, perWrite: Double = 0.25) {
            self.perCall = perCall
            self.perRow = perRow
            self.perCountedRow = perCountedRow
            self.perWrite = perWrite
        }

        /// What a call that produced `outcome` costs.
        func seconds(for outcome: BitrixOutcome) -> Double {
            perCall + perRow * Double(outcome.rows) + perCountedRow * Double(outcome.countedRows) + perWrite * Double(outcome.writes)
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
