import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

// MARK: What callers see

extension Database {
    /// Whether the database answered its last probe. Known within about a second of an outage (sooner after
    /// ``probeSoon()``), and again within about a second of its end.
    public var isAvailable: Bool { availabilityState.withLock { $0.isAvailable } }

    public var availability: DatabaseAvailability.Status { availabilityState.withLock { $0.status } }

    /// 1 for the first pool, one more for each replacement after an outage.
    public var poolGeneration: Int { pools.withLock { $0.generation } }

    /// Probes the pool now instead of at the next interval: a caller whose query failed or timed out says so.
    public func probeSoon() {
        probeRequests.signal()
    }

    /// For shutdown: when neither the pool nor a fresh connection answers, closes the pool, so every request
    /// waiting for a connection fails at once and every later one too, instead of waiting for a database that is
    /// not there (PostgresNIO lets a request wait up to a minute while it cannot connect). Returns whether it did.
    public func releaseIfUnreachable() async -> Bool {
        if isAvailable, await probePool(timeout: availabilityOptions.probeTimeout) { return false }
        if await probeServer() { return false }
        let current = pools.withLock { pools -> Task<Void, Never>? in
            pools.released = true
            return pools.current
        }
        availabilityState.withLock { _ = $0.server(reachable: false, at: .now) }
        current?.cancel()
        logger.warning("database unreachable at shutdown: its connection pool is closed so that nothing waits for it")
        return true
    }
}

// MARK: Bounded rounds

extension Database {
    /// Runs `body` (queries only, no calls to other systems) but gives up waiting for it after `limit`, throwing
    /// ``DeadlinePassed`` and asking the supervision to probe the pool; `body` is cancelled and left to end in
    /// the background. A service loop calls it so that one query that never answers (one in flight when
    /// PostgreSQL crashed was seen waiting for minutes after the server was back) cannot stop its work for good.
    public func bounded<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            return try await withDeadline(limit, body)
        } catch let error as DeadlinePassed {
            probeSoon()
            throw error
        }
    }
}

// MARK: Stopping

extension Database {
    /// Runs `body` (a lane's or a relay's round of queries), but stops waiting for it as soon as the task is
    /// cancelled, or once the service group is shutting down and either the database is unavailable or `grace`
    /// has passed: then `body` is cancelled and left to end in the background, and this throws
    /// `CancellationError`.
    ///
    /// A query on a pooled connection whose server crashed can neither answer nor notice its cancellation (a
    /// transaction's statement in flight when PostgreSQL was stopped with `-m immediate` waited for ever, and one
    /// in flight at the crash was seen still waiting minutes after the server was back), and a service awaiting
    /// it would never stop. What a round abandoned this way had claimed is taken over when its lease ends. The
    /// default grace is shorter than `serve`'s own shutdown grace (10 s, after which it cancels every service), so
    /// a stuck round is left behind before the whole group is cancelled.
    public func abandonedWhenStopping<T: Sendable>(
        grace: Duration = .seconds(5), _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = DeadlineRace<T>()
        let watch = Mutex<Task<Void, Never>?>(nil)
        defer { watch.withLock { $0?.cancel() } }
        return try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    race.start(continuation, limit: nil, body: body)
                }
            } onCancel: {
                race.finish(.failure(CancellationError()))
            }
        } onGracefulShutdown: { [self] in
            let task = Task {
                let told = ContinuousClock.now
                while !Task.isCancelled {
                    if !self.isAvailable {
                        race.finish(.failure(CancellationError()))
                        return
                    }
                    if told.duration(to: .now) >= grace {
                        if race.finish(.failure(CancellationError())) {
                            self.logger.warning(
                                "stopped waiting for a round of database work at shutdown",
                                metadata: ["grace_ms": "\(grace.milliseconds)"])
                        }
                        return
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            watch.withLock { $0 = task }
        }
    }
}

// MARK: Supervision

extension Database {
    /// Starts the current pool's `run()`, which has begun when this returns: a connection leased at once (a CLI
    /// command's first statement) never finds a pool not yet running, which PostgresNIO logs as a warning.
    func start(_ pools: inout Pools) {
        let client = pools.client
        let task = Task.immediate { await client.run() }
        pools.current = task
        pools.started.append(task)
    }

    /// Probes and decides (``DatabaseAvailability``) until cancelled.
    func supervise() async {
        var step = availabilityState.withLock { $0.start }
        while !Task.isCancelled {
            if pools.withLock({ $0.released }) {
                try? await Task.sleep(for: .seconds(3_600))
                continue
            }
            switch step {
            case .probePool(let after, let timeout):
                if after > .zero { await waitForProbe(after) }
                if Task.isCancelled { return }
                let answered = await probePool(timeout: timeout)
                step = decide { $0.pool(answered: answered, at: .now) }
            case .probeServer(let after):
                if after > .zero {
                    do { try await Task.sleep(for: after) } catch { return }
                }
                let reachable = await probeServer()
                step = decide { $0.server(reachable: reachable, at: .now) }
            case .replacePool:
                await replacePool()
                step = decide { $0.poolReplaced() }
            }
        }
    }

    /// Applies one decision and logs a change of status.
    private func decide(_ event: (inout DatabaseAvailability) -> DatabaseAvailability.Step) -> DatabaseAvailability.Step {
        let (before, after, step) = availabilityState.withLock { state in
            let before = state.status
            let step = event(&state)
            return (before, state.status, step)
        }
        switch (before, after) {
        case (.available, .unavailable):
            logger.warning("database unreachable", metadata: ["host": "\(url.host)", "port": "\(url.port)"])
        case (.unavailable(let since), .available):
            logger.notice(
                "database reachable again",
                metadata: [
                    "host": "\(url.host)", "port": "\(url.port)", "outage_ms": "\(since.duration(to: .now).milliseconds)",
                ])
        default:
            break
        }
        return step
    }

    /// Waits `duration`, or less when ``probeSoon()`` is called meanwhile or the task is cancelled. (Not
    /// shortened by a graceful shutdown: the pool is supervised until the very end.)
    private func waitForProbe(_ duration: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            group.addTask { await self.probeRequests.waitForSignal() }
            await group.next()
            group.cancelAll()
        }
    }

    /// How many times the pool was probed since the start.
    public var probeCount: Int { probes.load(ordering: .relaxed) }

    /// Whether the pool runs `SELECT 1` within `timeout`.
    func probePool(timeout: Duration) async -> Bool {
        probes.add(1, ordering: .relaxed)
        let client = self.client
        let logger = self.logger
        do {
            return try await withDeadline(timeout) {
                for try await one in try await client.query("SELECT 1", logger: logger).decode(Int.self) { return one == 1 }
                return false
            }
        } catch {
            return false
        }
    }

    /// Whether a fresh connection to the server opens within the probe timeout.
    func probeServer() async -> Bool {
        let (url, timeout, logger) = (self.url, availabilityOptions.probeTimeout, self.logger)
        do {
            try await withDeadline(timeout + .milliseconds(200)) {
                try await Self.connectOnce(url, timeout: timeout, logger: logger)
            }
            return true
        } catch {
            return false
        }
    }

    /// Starts a fresh pool and stops the old one: requests waiting in it fail (their callers retry on the new one).
    private func replacePool() async {
        let fresh = PostgresClient(configuration: Self.configuration(url, maximumConnections: maximumConnections), backgroundLogger: logger)
        // Handed out once its run() has begun (PostgresNIO warns about a lease before that): started immediately,
        // it has when this returns.
        let running = Task.immediate { await fresh.run() }
        if Task.isCancelled {
            running.cancel()
            await running.value
            return
        }
        let (old, generation) = pools.withLock { pools -> (Task<Void, Never>?, Int) in
            let old = pools.current
            pools.client = fresh
            pools.generation += 1
            pools.current = running
            pools.started.append(running)
            return (old, pools.generation)
        }
        old?.cancel()
        logger.notice("database connection pool replaced after an outage", metadata: ["generation": "\(generation)"])
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000 }
}
