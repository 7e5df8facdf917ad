import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// A target written from several lanes (MasterDeal, from every CRM) serves them in turn: a burst in one lane
/// never holds another lane's writes back, and within a record writes still go one at a time, in order.
struct OutboxLaneTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    static func insert(_ rows: [(lane: String, record: String)], into database: Database) async throws {
        _ = try await database.client.query(
            """
            INSERT INTO outbox (target, record_key, operation, payload, idempotency_key, lineage_id, lane)
            SELECT 'masterdeal', record, 'update', '{"values": {}}'::jsonb, 'key-' || ordinality, gen_random_uuid(), lane
            FROM unnest(\(rows.map(\.lane)), \(rows.map(\.record))) WITH ORDINALITY AS t(lane, record, ordinality)
            ORDER BY ordinality
            """)
    }

    @Test func aBurstInOneLaneDoesNotHoldAnotherLanesWritesBack() async throws {
        try await TestPostgres.withDatabase { database in
            try await Self.insert((0..<500).map { ("tour", "md-\($0)") } + [("fitness", "md-fit")], into: database)
            let claims = OutboxClaims(database: database, logger: logger)
            try await claims.whilePresent(worker: "host:1") {
                let groups = try await claims.claim(target: "masterdeal", limit: 10, worker: "host:1", lease: .seconds(90), coalesce: 1)
                #expect(groups.count == 10)
                #expect(groups.contains { $0.head.recordKey == "md-fit" }, "the other lane's write is served in the first claim")
                #expect(groups.filter { $0.head.recordKey.hasPrefix("md-") && $0.head.recordKey != "md-fit" }.count == 9)
                // A target takes a round a few requests at a time: the quiet lane's write is not sent after the burst's.
                #expect(groups.map(\.head.recordKey).prefix(3) == ["md-0", "md-fit", "md-1"], "\(groups.map(\.head.recordKey))")
                #expect(groups.first { $0.head.recordKey == "md-fit" }?.head.lane == "fitness")
            }
        }
    }

    @Test func lanesAreServedInTurnAndARecordsWritesOneAtATime() async throws {
        try await TestPostgres.withDatabase { database in
            // Lane a: records r1 (two writes), r2 and r3; lane b: r4 and r5.
            try await Self.insert([("a", "r1"), ("a", "r1"), ("a", "r2"), ("a", "r3"), ("b", "r4"), ("b", "r5")], into: database)
            let claims = OutboxClaims(database: database, logger: logger)
            try await claims.whilePresent(worker: "host:1") {
                let first = try await claims.claim(target: "masterdeal", limit: 2, worker: "host:1", lease: .seconds(90), coalesce: 1)
                #expect(Set(first.map(\.head.recordKey)) == ["r1", "r4"], "each lane's oldest, not the two oldest overall")
                let second = try await claims.claim(target: "masterdeal", limit: 4, worker: "host:1", lease: .seconds(90), coalesce: 1)
                #expect(Set(second.map(\.head.recordKey)) == ["r2", "r3", "r5"], "r1 is in flight: its next write waits")
                #expect(second.flatMap(\.ids).sorted() == [3, 4, 6], "r1's second write (2) is not among them")
            }
        }
    }

    /// Every record of a round takes its own run of updates with it, in one claim: up to `coalesce` writes, ending
    /// before a create, and a create as head goes alone.
    @Test func eachRecordOfARoundCoalescesItsOwnRunOfUpdates() async throws {
        try await TestPostgres.withDatabase { database in
            let rows: [(record: String, operation: String)] = [
                ("r1", "update"), ("r2", "update"), ("r3", "create"), ("r1", "update"), ("r2", "create"), ("r1", "update"),
                ("r2", "update"), ("r3", "update"), ("r4", "update"), ("r1", "update"),
            ]
            _ = try await database.client.query(
                """
                INSERT INTO outbox (target, record_key, operation, payload, idempotency_key, lineage_id, lane)
                SELECT 'masterdeal', record, operation, '{"values": {}}'::jsonb, 'key-' || ordinality, gen_random_uuid(), 'tour'
                FROM unnest(\(rows.map(\.record)), \(rows.map(\.operation))) WITH ORDINALITY AS t(record, operation, ordinality)
                ORDER BY ordinality
                """)
            let claims = OutboxClaims(database: database, logger: logger)
            try await claims.whilePresent(worker: "host:1") {
                let groups = try await claims.claim(target: "masterdeal", limit: 10, worker: "host:1", lease: .seconds(90), coalesce: 3)
                #expect(groups.count == 4)
                #expect(groups.map(\.head.recordKey) == ["r1", "r2", "r3", "r4"])
                #expect(
                    groups.map(\.ids) == [[1, 4, 6], [2], [3], [9]], "r1 up to three writes, r2 up to its create, r3's create alone")
            }
            #expect(try await F.count("outbox", where: "status = 'in_flight'", in: database) == 6)
            #expect(try await F.count("outbox", where: "status = 'pending' AND id IN (5, 7, 8, 10)", in: database) == 4)
        }
    }
}
