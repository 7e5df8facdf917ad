import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// An inbox row waiting for its records to be fetched (a Bitrix24 id-only event, an amoCRM automation hook) stays
/// with the process fetching it while that process is present; when the process dies it is taken over within
/// seconds, not after the whole 60 s fetch lease.
struct InboxFetchTakeoverTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    @Test func aFetchWhoseProcessDiedIsTakenOverSoonAndALiveOneIsLeftAlone() async throws {
        try await TestPostgres.withDatabase { database in
            let body = try JSONEncoder().encode(FetchRequest(connector: "tour", recordID: "9001"))
            _ = try await InboxStore(database: database, logger: logger)
                .record(InboxItem(connector: "tour", dedupeKey: "refetch:9001", source: .refetch, body: body))
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let claims = OutboxClaims(database: database, logger: logger)

            try await claims.whilePresent(worker: "host:1") {
                let started = try await processor.processNext(decode: F.decode, worker: "host:1")
                guard case .fetch(let id, let requests, _, _) = started else {
                    Issue.record("expected a fetch, got \(started)")
                    return
                }
                #expect(id == 1 && requests == [FetchRequest(connector: "tour", recordID: "9001")])
                // Ten seconds into the fetch (set directly, so a slow machine changes nothing): its process is
                // present, so nobody else takes the row.
                _ = try await database.client.query("UPDATE inbox SET next_attempt_at = now() + interval '50 seconds'")
                let meanwhile = try await processor.processNext(decode: F.decode, worker: "host:2")
                #expect(meanwhile == .idle, "a live fetch stays with its process")
            }

            // Its process is gone: another takes the fetch over at once, as one more attempt.
            let taken = try await processor.processNext(decode: F.decode, worker: "host:2")
            guard case .fetch(1, _, _, _) = taken else {
                Issue.record("expected the fetch to be taken over, got \(taken)")
                return
            }
            let rows = try await database.client.query("SELECT attempts, fetched_by FROM inbox WHERE id = 1")
            for try await (attempts, worker) in rows.decode((Int, String?).self) {
                #expect(attempts == 2 && worker == "host:2")
            }
            // A fetch that has only just started (one second ago, set directly) is not taken over, even before its
            // worker shows up as present.
            _ = try await database.client.query("UPDATE inbox SET next_attempt_at = now() + interval '59 seconds'")
            let early = try await processor.processNext(decode: F.decode, worker: "host:3")
            #expect(early == .idle, "the first seconds of a fetch are its own")

            // The first process comes back late: its result and its failure change nothing; the new fetch counts.
            let late = InboxItem(connector: "tour", dedupeKey: "lead:9001:1000", source: .fetch, body: Data("{}".utf8))
            #expect(try await processor.completeFetch(inboxID: 1, fetched: [late], worker: "host:1") == false)
            try await processor.retryFetch(1, worker: "host:1", error: "fetch failed: timeout", delaySeconds: 0)
            #expect(try await F.count("inbox", in: database) == 1, "the late result is not stored")
            #expect(
                try await F.count("inbox", where: "id = 1 AND status = 'pending' AND fetched_by = 'host:2' AND attempts = 2", in: database)
                    == 1)

            // The fetch that holds the row fails: it is retried with backoff like any row, by whoever comes first.
            try await processor.retryFetch(1, worker: "host:2", error: "fetch failed: timeout", delaySeconds: 0)
            let retried = try await processor.processNext(decode: F.decode, worker: "host:3")
            guard case .fetch(1, _, _, _) = retried else {
                Issue.record("expected the failed fetch again, got \(retried)")
                return
            }
            let fresh = InboxItem(connector: "tour", dedupeKey: "lead:9001:1001", source: .fetch, body: Data("{}".utf8))
            #expect(try await processor.completeFetch(inboxID: 1, fetched: [fresh], worker: "host:3"))
            #expect(try await F.count("inbox", where: "id = 1 AND status = 'processed'", in: database) == 1)
            #expect(try await F.count("inbox", where: "dedupe_key = 'lead:9001:1001'", in: database) == 1)
        }
    }

    /// A fetch that keeps being started and never completes (each crash or takeover counts) is given up on.
    @Test func aFetchStartedTooOftenIsGivenUp() async throws {
        try await TestPostgres.withDatabase { database in
            let body = try JSONEncoder().encode(FetchRequest(connector: "tour", recordID: "9001"))
            _ = try await InboxStore(database: database, logger: logger)
                .record(InboxItem(connector: "tour", dedupeKey: "refetch:9001", source: .refetch, body: body))
            _ = try await database.client.query("UPDATE inbox SET attempts = 23")
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let step = try await processor.processNext(decode: F.decode, worker: "host:1")
            guard case .failed(1, let reason) = step else {
                Issue.record("expected the row to be given up, got \(step)")
                return
            }
            #expect(reason.contains("asked for 24 times"), "\(reason)")
            #expect(try await F.count("inbox", where: "status = 'failed'", in: database) == 1)
        }
    }

    @Test func aRowThatAsksForAFetchHandsOnItsTraceContext() async throws {
        try await TestPostgres.withDatabase { database in
            let body = try JSONEncoder().encode(FetchRequest(connector: "tour", recordID: "9002"))
            let traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            _ = try await InboxStore(database: database, logger: logger).record(
                InboxItem(
                    connector: "tour", dedupeKey: "refetch:9002", source: .refetch,
                    headers: ["traceparent": traceParent, "x-other": "kept out"], body: body))
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let step = try await processor.processNext(decode: F.decode, worker: "host:1")
            guard case .fetch(_, _, _, let trace) = step else {
                Issue.record("expected a fetch, got \(step)")
                return
            }
            #expect(trace == ["traceparent": traceParent], "the fetched records continue the row's trace, and only it")
        }
    }
}
