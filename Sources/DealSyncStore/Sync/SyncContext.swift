import DealSyncCore
import Foundation
import Logging

/// What every part of the sync store shares: the database, the decision engines and the hooks.
public struct SyncContext: Sendable {
    public let database: Database
    public let setup: SyncSetup
    public let planner: SyncPlanner
    public let logger: Logger
    /// Test hook: called at named points inside a transaction; throwing there simulates a crash.
    let checkpoint: (@Sendable (String) throws -> Void)?
    /// Told about every committed inbox row and divergence entry (metrics).
    let observer: SyncObserver?
    /// The field states this process read or wrote last (``FieldStateMemo``), shared by every session of the context.
    let fieldStates = FieldStateMemo()

    /// How often an inbox row may be tried (waits and failures count); a fetch started twice as often is given up.
    public static let maxAttempts = 12

    public init(
        database: Database, setup: SyncSetup, logger: Logger, checkpoint: (@Sendable (String) throws -> Void)? = nil,
        observer: SyncObserver? = nil
    ) {
        self.database = database
        self.setup = setup
        self.planner = SyncPlanner(setup: setup, maxAttempts: Self.maxAttempts)
        self.logger = logger
        self.checkpoint = checkpoint
        self.observer = observer
    }

    func check(_ point: String) throws { try checkpoint?(point) }

    /// The side a target connector is.
    func side(of target: String) -> Side { target == setup.masterConnector ? .master : .crm }
}

/// Callbacks for metrics; called after the work they report is committed.
public struct SyncObserver: Sendable {
    public var processed: @Sendable (_ connector: String, _ result: String) -> Void
    public var divergence: @Sendable (_ connector: String, _ kind: DivergenceEntry.Kind) -> Void

    public init(
        processed: @escaping @Sendable (String, String) -> Void,
        divergence: @escaping @Sendable (String, DivergenceEntry.Kind) -> Void
    ) {
        self.processed = processed
        self.divergence = divergence
    }
}
