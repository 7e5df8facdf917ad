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
        try await F.drain(SyncProcessor(database: database, setup: F.setup, logger: logger))
        #expect(try await F.count("outbox", where: "target = 'tour' AND operation = 'create' AND status = 'pending'", in: database) == 1)
    }

    func attemptLog(_ database: Database) async throws -> [AttemptRecord] {
        let rows = try await database.client.query("SELECT attempt_log::text FROM outbox WHERE target = 'tour'")
        for try await text in rows.decode(String.self) { return try JSONDecoder().decode([AttemptRecord].self, from: Data(text.utf8)) }
        return []
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
            #expect(try await F.count("outbox", where: "status = 'in_flight' AND claimed_until > now() + interval '60 seconds'", in: database) == 1)
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
}
