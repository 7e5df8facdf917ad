import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// Claims of a relay that died: taken over at once, and sent again as a retry.
struct OutboxClaimsTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    /// One create of a lead waiting for the `tour` relay.
    func enqueueCreate(_ database: Database) async throws {
        let inbox = InboxStore(database: database, logger: logger)
        _ = try await inbox.record(F.item([F.deal(title: "Сочи", at: 1000, version: 1)], key: "evt-1"))
        try await F.drain(InboxProcessor(database: database, setup: F.setup, logger: logger))
        #expect(try await F.count("outbox", where: "target = 'tour' AND operation = 'create' AND status = 'pending'", in: database) == 1)
    }

    /// Creates of three leads (deals md-1 to md-3) waiting for the `tour` relay.
    func enqueueThreeCreates(_ database: Database) async throws {
        let inbox = InboxStore(database: database, logger: logger)
        for deal in 1...3 {
            _ = try await inbox.record(F.item([F.deal("md-\(deal)", title: "Сочи \(deal)", at: 1000, version: 1)], key: "evt-\(deal)"))
        }
        try await F.drain(InboxProcessor(database: database, setup: F.setup, logger: logger))
        #expect(try await F.count("outbox", where: "target = 'tour' AND status = 'pending'", in: database) == 3)
    }

    func attemptLog(_ database: Database) async throws -> [AttemptRecord] {
        let rows = try await database.client.query("SELECT attempt_log::text FROM outbox WHERE target = 'tour'")
        for try await text in rows.decode(String.self) { return try JSONDecoder().decode([AttemptRecord].self, from: Data(text.utf8)) }
        return []
    }

    /// A relay learns whether its target is paused from the claim's own first statement: paused, it claims nothing
    /// (`skip`) or one write (`probe`), and says why; not paused, or asked to ignore it, it claims the round.
    @Test func aPausedTargetsRoundClaimsNothingOrOneProbeAndSaysWhy() async throws {
        try await TestPostgres.withDatabase { database in
            try await enqueueThreeCreates(database)
            let claims = OutboxClaims(database: database, logger: logger)
            let status = ConnectorStatusStore(database: database, logger: logger)
            try await status.pause("other", reason: "another connector's pause")
            try await status.pause("tour", reason: "account blocked")
            try await claims.whilePresent(worker: "host:1") {
                func round(_ whenPaused: OutboxClaims.WhenPaused) async throws -> OutboxClaims.Round {
                    try await claims.claimRound(target: "tour", limit: 10, worker: "host:1", lease: .seconds(90), whenPaused: whenPaused)
                }
                let skipped = try await round(.skip)
                #expect(skipped.paused == "account blocked")
                #expect(skipped.groups.isEmpty)
                #expect(try await F.count("outbox", where: "target = 'tour' AND status = 'pending'", in: database) == 3)
                let probe = try await round(.probe)
                #expect(probe.paused == "account blocked")
                #expect(probe.groups.count == 1, "one write, as a probe")
                let regardless = try await round(.claim)
                #expect(regardless.paused == "account blocked")
                #expect(regardless.groups.count == 2, "the rest, as if not paused")
                try await status.resume("tour")
                let resumed = try await round(.skip)
                #expect(resumed.paused == nil, "another connector's pause is not this one's")
            }
        }
    }

    @Test func aWriteLeftInFlightByAWorkerThatIsGoneIsClaimedAgainAtOnceAsARetry() async throws {
        try await TestPostgres.withDatabase { database in
            try await enqueueCreate(database)
            let claims = OutboxClaims(database: database, logger: logger)
            // A process claims the create and dies before it records an outcome: its presence goes with it.
            try await claims.whilePresent(worker: "host:101") {
                let claimed = try await claims.claim(target: "tour", limit: 10, worker: "host:101", lease: .seconds(90))
                #expect(claimed.map(\.delivery.attempt) == [0])
            }
            #expect(
                try await F.count("outbox", where: "status = 'in_flight' AND claimed_until > now() + interval '60 seconds'", in: database)
                    == 1)
            // Its successor takes the write over at once, long before the lease would have run out.
            try await claims.whilePresent(worker: "host:202") {
                let again = try await claims.claim(target: "tour", limit: 10, worker: "host:202", lease: .seconds(90))
                #expect(again.count == 1)
                #expect(again.first?.delivery.operation == .create)
                #expect(again.first?.delivery.attempt == 1, "the lost attempt may have landed: the create must look before it makes")
            }
            let log = try await attemptLog(database)
            #expect(log.map(\.errorClass) == ["interrupted"])
            #expect(log.first?.worker == "host:101")
        }
    }

    @Test func aWriteInFlightWithAPresentWorkerStaysWithItUntilItsLeaseRunsOut() async throws {
        try await TestPostgres.withDatabase { database in
            try await enqueueCreate(database)
            let claims = OutboxClaims(database: database, logger: logger)
            try await claims.whilePresent(worker: "host:101") {
                let claimed = try await claims.claim(target: "tour", limit: 10, worker: "host:101", lease: .seconds(90))
                #expect(claimed.count == 1)
                try await claims.whilePresent(worker: "host:202") {
                    let meanwhile = try await claims.claim(target: "tour", limit: 10, worker: "host:202", lease: .seconds(90))
                    #expect(meanwhile.isEmpty, "a live worker keeps its claim")
                    // The lease runs out (set directly, so a slow machine cannot make it run out early).
                    _ = try await database.client.query("UPDATE outbox SET claimed_until = now() - interval '1 second'")
                    let expired = try await claims.claim(target: "tour", limit: 10, worker: "host:202", lease: .seconds(90))
                    #expect(expired.map(\.delivery.attempt) == [1], "a lease that ran out frees the write, as a retry")
                }
            }
        }
    }

    /// Whether PostgreSQL read its lock table to run a claim of `worker`'s (`EXPLAIN ANALYZE`: `pg_lock_status` ran).
    func claimReadsTheLockTable(_ database: Database, worker: String) async throws -> Bool {
        let claim = OutboxClaims.claimHeads(target: "tour", limit: 10, worker: worker, leaseSeconds: 90, interruption: "{}")
        let scans = try await F.analyzedPlan(of: claim, in: database).filter { $0["Function Name"] as? String == "pg_lock_status" }
        #expect(scans.count == 1, "the claim's plan has its one look at the lock table")
        return scans.contains { (($0["Actual Loops"] as? NSNumber)?.doubleValue ?? 0) > 0 }
    }

    @Test func aClaimReadsTheLockTableOnlyForWritesInFlightWithAnotherWorker() async throws {
        try await TestPostgres.withDatabase { database in
            try await enqueueThreeCreates(database)
            let claims = OutboxClaims(database: database, logger: logger)
            try await claims.whilePresent(worker: "host:101") {
                // Its own write in flight: host:101 is present (it claims only while it is), nothing to look up.
                let first = try await claims.claim(target: "tour", limit: 1, worker: "host:101", lease: .seconds(90))
                #expect(first.count == 1)
                let ownLooked = try await claimReadsTheLockTable(database, worker: "host:101")
                #expect(ownLooked == false)
                let inFlight = try await F.count("outbox", where: "target = 'tour' AND status = 'in_flight'", in: database)
                #expect(inFlight == 3)
                // Another worker's writes in flight: whether it is still present is asked of the lock table.
                let otherLooked = try await claimReadsTheLockTable(database, worker: "host:202")
                #expect(otherLooked)
            }
        }
    }

    /// A claim given a timeout is cancelled by PostgreSQL when it runs longer: nothing is left running on the
    /// server for the next claim to compete with.
    @Test func aClaimThatRunsPastItsTimeoutIsCancelledByTheServer() async throws {
        try await TestPostgres.withDatabase { database in
            try await enqueueCreate(database)
            let claims = OutboxClaims(database: database, logger: logger)
            try await claims.whilePresent(worker: "host:101") {
                // Another transaction holds the outbox, so the claim cannot even read it. The caller stops waiting
                // after 5 s in any case (as a relay does); what matters is what is left running on the server then.
                let (failure, running) = try await database.client.withTransaction(logger: logger) { blocker -> ((any Error)?, Int) in
                    _ = try await blocker.query("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE", logger: logger)
                    var failure: (any Error)?
                    do {
                        _ = try await database.bounded(.seconds(5)) {
                            try await claims.claim(
                                target: "tour", limit: 10, worker: "host:101", lease: .seconds(90), timeout: .milliseconds(200))
                        }
                    } catch {
                        failure = error
                    }
                    let running = try await F.count(
                        "pg_stat_activity",
                        where:
                            "datname = current_database() AND state = 'active' AND query LIKE '%present AS MATERIALIZED%' AND pid <> pg_backend_pid()",
                        in: database)
                    return (failure, running)
                }
                let cause = (failure as? TransactionError)?.closureError as? PSQLError
                #expect(cause?.serverInfo?[.sqlState] == "57014", "cancelled by statement_timeout: \(String(describing: failure))")
                #expect(running == 0, "the claim still running on the server")
                // The outbox free again, the same claim goes through within its timeout.
                let claimed = try await claims.claim(
                    target: "tour", limit: 10, worker: "host:101", lease: .seconds(90), timeout: .seconds(30))
                #expect(claimed.count == 1)
            }
        }
    }

    @Test func presenceCountsOnlyInItsOwnDatabase() async throws {
        try await TestPostgres.withDatabase { database in
            try await enqueueCreate(database)
            let claims = OutboxClaims(database: database, logger: logger)
            try await claims.whilePresent(worker: "host:101") {
                _ = try await claims.claim(target: "tour", limit: 10, worker: "host:101", lease: .seconds(90))
            }
            try await TestPostgres.withDatabase { elsewhere in
                // A worker of the same name is present in another database of the same server.
                try await OutboxClaims(database: elsewhere, logger: logger).whilePresent(worker: "host:101") {
                    let again = try await claims.claim(target: "tour", limit: 10, worker: "host:202", lease: .seconds(90))
                    #expect(again.count == 1)
                }
            }
        }
    }

    /// A process that outlives its lease (a long GC pause, a stalled network) comes back with an outcome for
    /// writes another worker has taken over: it is not recorded, whatever it is; the new claim's outcome is.
    @Test func anOutcomeFromAClaimThatWasTakenOverIsNotRecorded() async throws {
        try await TestPostgres.withDatabase { database in
            try await enqueueCreate(database)
            let claims = OutboxClaims(database: database, logger: logger)
            let processor = DeliveryOutcomes(context: SyncContext(database: database, setup: F.setup, logger: logger))
            try await claims.whilePresent(worker: "host:101") {
                let slow = try #require(try await claims.claim(target: "tour", limit: 10, worker: "host:101", lease: .seconds(90)).first)
                try await claims.whilePresent(worker: "host:202") {
                    _ = try await database.client.query("UPDATE outbox SET claimed_until = now() - interval '1 second'")
                    let fresh = try #require(
                        try await claims.claim(target: "tour", limit: 10, worker: "host:202", lease: .seconds(90)).first)
                    #expect(fresh.head.claimedBy == "host:202" && fresh.head.attempts == 1)

                    // The slow worker's outcomes, of every kind, change nothing.
                    let late = AttemptRecord(status: 500, errorClass: "server_error", detail: "late", worker: "host:101")
                    #expect(try await processor.retry(slow, at: Date(), attempt: late) == false)
                    #expect(try await processor.deadLetter(slow, errorClass: .serverError, attempt: late) == false)
                    #expect(try await processor.superseded(slow, refetched: nil, observations: []) == false)
                    #expect(
                        try await processor.delivered(
                            slow, recordID: "24189999", landedAt: nil,
                            attempt: AttemptRecord(status: 200, errorClass: "delivered", detail: "", worker: "host:101")) == false)
                    #expect(try await F.count("outbox", where: "status = 'in_flight' AND claimed_by = 'host:202'", in: database) == 1)
                    #expect(try await F.count("dead_letters", where: "true", in: database) == 0)
                    #expect(
                        try await F.count("links", where: "record_id IS NOT NULL", in: database) == 0,
                        "the late create's lead is not linked")

                    // The claim that holds the writes records its outcome.
                    #expect(
                        try await processor.delivered(
                            fresh, recordID: "24180001", landedAt: nil,
                            attempt: AttemptRecord(status: 200, errorClass: "delivered", detail: "", worker: "host:202")))
                    #expect(try await F.count("outbox", where: "status = 'done'", in: database) == 1)
                    #expect(try await F.count("links", where: "record_id = '24180001'", in: database) == 1)
                    #expect(try await processor.retry(slow, at: Date(), attempt: late) == false, "nor after the write is done")
                }
            }
            let log = try await attemptLog(database)
            #expect(log.map(\.errorClass) == ["interrupted", "delivered"], "\(log)")
            #expect(log.map(\.worker) == ["host:101", "host:202"])
        }
    }

    /// Writes coalesced into a claim that outlived its lease stay behind that claim: the takeover sends the head
    /// alone, and a newer update never overtakes the older one still in flight.
    @Test func aTakeoverDoesNotCoalescePastAWriteStillInFlightUnderTheLateClaim() async throws {
        try await TestPostgres.withDatabase { database in
            try await enqueueCreate(database)
            let claims = OutboxClaims(database: database, logger: logger)
            let processor = DeliveryOutcomes(context: SyncContext(database: database, setup: F.setup, logger: logger))
            let inbox = InboxStore(database: database, logger: logger)
            try await claims.whilePresent(worker: "host:101") {
                let create = try #require(try await claims.claim(target: "tour", limit: 10, worker: "host:101", lease: .seconds(90)).first)
                #expect(
                    try await processor.delivered(
                        create, recordID: "9001", landedAt: SourceStamp(seconds: 1001),
                        attempt: AttemptRecord(status: 200, errorClass: "delivered", detail: "", worker: "host:101")))
                for (index, title) in ["Сочи 2", "Сочи 3"].enumerated() {
                    _ = try await inbox.record(
                        F.item([F.deal(title: title, at: 2000 + Int64(index), version: 2 + Int64(index))], key: "evt-u\(index)"))
                    _ = try await F.drain(InboxProcessor(context: processor.context))
                }
                let slow = try #require(try await claims.claim(target: "tour", limit: 10, worker: "host:101", lease: .seconds(90)).first)
                #expect(slow.writes.count == 2, "two updates coalesced: \(slow.ids)")

                try await claims.whilePresent(worker: "host:202") {
                    _ = try await database.client.query(
                        "UPDATE outbox SET claimed_until = now() - interval '1 second' WHERE status = 'in_flight'")
                    _ = try await inbox.record(F.item([F.deal(title: "Сочи 4", at: 2010, version: 4)], key: "evt-u9"))
                    _ = try await F.drain(InboxProcessor(context: processor.context))
                    let taken = try await claims.claim(target: "tour", limit: 10, worker: "host:202", lease: .seconds(90))
                    #expect(taken.map(\.ids) == [[slow.ids[0]]], "the head alone; the follower still in flight and the newer update wait")
                    let head = try #require(taken.first)
                    #expect(
                        try await processor.delivered(
                            head, recordID: "9001", landedAt: nil,
                            attempt: AttemptRecord(status: 200, errorClass: "delivered", detail: "", worker: "host:202")))
                    // Next the old follower is taken over, and the newer update rides behind it.
                    let next = try await claims.claim(target: "tour", limit: 10, worker: "host:202", lease: .seconds(90))
                    #expect(next.first?.ids.first == slow.ids[1] && next.first?.writes.count == 2, "\(next.map(\.ids))")
                    #expect(next.first?.delivery.values["name"] == .text("Сочи 4"), "the newest value is what lands")
                }
            }
        }
    }

    /// The processes sharing MasterDeal's rate: the workers present, and a starting one counts itself.
    @Test func presentWorkersCountsEachProcessOnce() async throws {
        try await TestPostgres.withDatabase { database in
            let claims = OutboxClaims(database: database, logger: logger)
            #expect(try await claims.presentWorkers() == 0)
            #expect(try await claims.presentWorkers(counting: "host:101") == 1)
            try await claims.whilePresent(worker: "host:101") {
                // A process's relays share one worker name: three presences are one process.
                try await claims.whilePresent(worker: "host:101") {
                    try await claims.whilePresent(worker: "host:101") {
                        let alone = try await claims.presentWorkers()
                        let itself = try await claims.presentWorkers(counting: "host:101")
                        let another = try await claims.presentWorkers(counting: "host:202")
                        #expect(alone == 1 && itself == 1 && another == 2, "\(alone) \(itself) \(another)")
                    }
                }
            }
            #expect(try await claims.presentWorkers() == 0, "a process that stopped is no longer counted")
        }
    }

    /// A replay starts the attempts again, but not the claims: an outcome from a claim made before the write was
    /// dead-lettered and replayed is still refused, even from the same worker at the same attempt number.
    @Test func anOutcomeFromAClaimBeforeAReplayIsNotRecorded() async throws {
        try await TestPostgres.withDatabase { database in
            try await enqueueCreate(database)
            let claims = OutboxClaims(database: database, logger: logger)
            let processor = DeliveryOutcomes(context: SyncContext(database: database, setup: F.setup, logger: logger))
            let failed = AttemptRecord(status: 400, errorClass: "validation", detail: "rejected", worker: "host:101")
            try await claims.whilePresent(worker: "host:101") {
                let first = try #require(try await claims.claim(target: "tour", limit: 10, worker: "host:101", lease: .seconds(90)).first)
                _ = try await database.client.query("UPDATE outbox SET claimed_until = now() - interval '1 second'")
                let second = try #require(try await claims.claim(target: "tour", limit: 10, worker: "host:101", lease: .seconds(90)).first)
                #expect(try await processor.deadLetter(second, errorClass: .validation, attempt: failed))
                let letter = try #require(
                    try await DeadLetterStore(database: database, logger: logger)
                        .list(DeadLetterFilter(connector: "tour", since: nil, errorClass: nil, deal: nil, status: "open")).first)
                _ = try await DeadLetterReplay(context: processor.context).replay(letter.id, actor: "support", dryRun: false)
                let third = try #require(try await claims.claim(target: "tour", limit: 10, worker: "host:101", lease: .seconds(90)).first)
                #expect(
                    third.head.attempts == first.head.attempts && third.head.claimedBy == first.head.claimedBy,
                    "the same worker at the same attempt number")
                #expect(third.head.claimSequence > second.head.claimSequence && second.head.claimSequence > first.head.claimSequence)

                #expect(
                    try await processor.delivered(
                        first, recordID: "9001", landedAt: nil,
                        attempt: AttemptRecord(status: 200, errorClass: "delivered", detail: "", worker: "host:101")) == false)
                #expect(
                    try await F.count("outbox", where: "status = 'in_flight'", in: database) == 1,
                    "the replayed write waits for its own claim")
                #expect(
                    try await processor.delivered(
                        third, recordID: "9001", landedAt: nil,
                        attempt: AttemptRecord(status: 200, errorClass: "delivered", detail: "", worker: "host:101")))
            }
        }
    }
}

/// An express relay's claim: only the lanes with at most a round pending, so a quiet connector's writes are taken
/// at once while another connector's burst fills the other relays' rounds.
struct ExpressClaimTests {
    typealias F = StoreFixtures

    func enqueue(_ count: Int, lane: String, from first: Int, in database: Database) async throws {
        _ = try await database.client.query(
            """
            INSERT INTO outbox (target, record_key, operation, payload, idempotency_key, lineage_id, lane)
            SELECT 'masterdeal', 'link:' || g, 'create', '{"values": {}}'::jsonb, 'create-' || g, gen_random_uuid(), \(lane)
            FROM generate_series(\(first), \(first + count - 1)) AS g
            """)
    }

    func lanes(of groups: [WriteGroup]) -> [String: Int] {
        groups.reduce(into: [:]) { $0[$1.head.lane, default: 0] += 1 }
    }

    @Test func anExpressClaimTakesOnlyTheLanesWithAtMostARoundPending() async throws {
        try await TestPostgres.withDatabase { database in
            try await enqueue(51, lane: "burst", from: 0, in: database)
            try await enqueue(2, lane: "quiet", from: 1000, in: database)
            try await enqueue(50, lane: "busy", from: 2000, in: database)
            let claims = OutboxClaims(database: database, logger: TestPostgres.logger)
            try await claims.whilePresent(worker: "host:1") {
                let express = try await claims.claim(target: "masterdeal", limit: 50, worker: "host:1", lease: .seconds(90), quietLanes: 50)
                #expect(express.count == 50)
                #expect(lanes(of: express) == ["quiet": 2, "busy": 48], "a lane of 51 pending is a burst; one of 50 is not")
                // An ordinary relay serves every lane in turn: what is left of the burst and of the busy lane.
                let ordinary = try await claims.claim(target: "masterdeal", limit: 10, worker: "host:1", lease: .seconds(90))
                #expect(lanes(of: ordinary) == ["busy": 2, "burst": 8])
                // The burst is down to a round pending: the express relay serves it too.
                let after = try await claims.claim(target: "masterdeal", limit: 50, worker: "host:1", lease: .seconds(90), quietLanes: 50)
                #expect(lanes(of: after) == ["burst": 43])
            }
        }
    }
}
