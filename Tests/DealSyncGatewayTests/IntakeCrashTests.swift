import AsyncHTTPClient
import DealSyncCore
import DealSyncGateway
import DealSyncStore
import DealSyncTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import PostgresNIO
import Synchronization
import Testing

/// Nothing is acknowledged before it is durable: webhooks with unique ids are sent through a real gateway while
/// its PostgreSQL is crashed (`pg_ctl stop -m immediate`) and started again, several times; afterwards every
/// webhook that was answered 2xx is in the inbox. PostgreSQL runs with `synchronous_commit` on (and `fsync` off:
/// a crash of PostgreSQL, not of the machine, loses no committed row either way).
@Suite(.serialized)
struct IntakeCrashTests {
    /// What the senders were told, per webhook.
    final class Tally: Sendable {
        private struct Counts {
            var accepted: [Int] = []
            var refused = 0
            var otherStatus = 0
            var failed = 0
        }

        private let counts = Mutex(Counts())
        let next = Atomic(0)
        let stopped = Atomic(false)

        var accepted: [Int] { counts.withLock { $0.accepted } }
        var acceptedCount: Int { counts.withLock { $0.accepted.count } }
        var refused: Int { counts.withLock { $0.refused } }
        var otherStatus: Int { counts.withLock { $0.otherStatus } }
        var failed: Int { counts.withLock { $0.failed } }

        func record(_ id: Int, status: Int?, body: String) {
            counts.withLock { c in
                switch status {
                case 200 where body.contains(#""status":"accepted""#): c.accepted.append(id)
                case 503: c.refused += 1
                case nil: c.failed += 1
                default: c.otherStatus += 1
                }
            }
        }
    }

    static func send(_ client: HTTPClient, to gateway: IntakeGateway, tally: Tally) async {
        while !tally.stopped.load(ordering: .relaxed) {
            let id = tally.next.add(1, ordering: .relaxed).newValue
            var request = HTTPClientRequest(url: gateway.url + "/webhooks/tour/\(SyncSystem.webhookSecret)")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "X-AmoCRM-RequestId", value: "crash-\(id)")
            request.body = .bytes(ByteBuffer(string: IntakeGateway.amoBody(id: 1_000_000 + id)))
            do {
                let response = try await client.execute(request, timeout: .seconds(10))
                let body = try await response.body.collect(upTo: 1 << 16)
                tally.record(id, status: Int(response.status.code), body: String(buffer: body))
            } catch {
                tally.record(id, status: nil, body: "")
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func everyWebhookAnswered2xxIsInTheInboxAfterPostgreSQLCrashes() async throws {
        let crashes = 4
        try await TestPostgres.withPrivateCluster(.init(synchronousCommit: true)) { cluster in
            try await IntakeGateway.run(in: cluster, { $0.intakeOnly = true }) { gateway in
                var configuration = HTTPClient.Configuration()
                configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
                configuration.timeout = .init(connect: .seconds(2), read: .seconds(10))
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
                let tally = Tally()
                let started = ContinuousClock.now
                do {
                    try await withThrowingTaskGroup(of: Void.self) { senders in
                        for _ in 0..<12 { senders.addTask { await Self.send(client, to: gateway, tally: tally) } }
                        defer { tally.stopped.store(true, ordering: .relaxed) }
                        for _ in 0..<crashes {
                            // Webhooks are being stored (again) before each crash.
                            let before = tally.acceptedCount
                            try await eventually("webhooks are stored", timeout: .seconds(60)) { tally.acceptedCount >= before + 300 }
                            try await cluster.halted(mode: .immediate)
                            try await Task.sleep(for: .seconds(1))
                            try await cluster.restarted()
                        }
                        let before = tally.acceptedCount
                        try await eventually("webhooks are stored after the last restart", timeout: .seconds(60)) {
                            tally.acceptedCount >= before + 300
                        }
                        tally.stopped.store(true, ordering: .relaxed)
                        try await senders.waitForAll()
                    }
                } catch {
                    try? await client.shutdown()
                    throw error
                }
                try await client.shutdown()
                let took = started.duration(to: .now)

                var stored = Set<String>()
                let rows = try await gateway.database.client.query("SELECT dedupe_key FROM inbox")
                for try await key in rows.decode(String.self) { stored.insert(key) }
                let accepted = tally.accepted
                let lost = accepted.filter { !stored.contains("request:crash-\($0)") }
                #expect(lost.isEmpty, "\(lost.count) of \(accepted.count) webhooks answered 200 are not in the inbox: \(lost.prefix(20))")
                #expect(tally.refused > 0, "the outages were seen: some webhooks were refused with 503")
                #expect(tally.otherStatus == 0, "every answer was 200 or 503")
                print(
                    """
                    intake crash figures: \(crashes) crashes in \(took); \(tally.next.load(ordering: .relaxed)) webhooks sent, \
                    \(accepted.count) answered 200 accepted, lost \(lost.count); \(tally.refused) refused with 503, \
                    \(tally.failed) without an answer (connection errors), \(tally.otherStatus) other; \
                    inbox rows \(stored.count) (rows stored but answered 503 or not at all: \(stored.count - (accepted.count - lost.count)))
                    """)
            }
        }
    }
}
