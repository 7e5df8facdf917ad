import DealSyncCore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import DealSyncStore

/// The statements kept prepared on each connection (``KeptStatement``): one text whatever the values, prepared once
/// per connection and run by name after that.
struct KeptStatementTests {
    /// Each builder's text for very different values (empty and full lists, absent and present optionals) is the
    /// kept text: a value that changed the text would be run under another statement's name.
    @Test func eachBuildersTextIsTheKeptTextWhateverTheValues() {
        let item = InboxItem(
            connector: "amo", dedupeKey: "hook:1", source: .webhook, headers: ["user-agent": "x"], contentType: nil, body: Data("a=1".utf8))
        let texts: [(String, String, [String])] = [
            (
                LinkBookRecords.Lock.name, LinkBookRecords.Lock.sql,
                [LinkBookRecords.lockQuery([]).sql, LinkBookRecords.lockQuery(["deal:1", "record:amo:2"]).sql]
            ),
            (
                LinkBookRecords.Links.name, LinkBookRecords.Links.sql,
                [LinkBookRecords.linksQuery(deals: ["d"], connectors: ["amo", "b24"], records: ["1", "2"], ids: [7]).sql]
            ),
            (
                LinkBookRecords.Holds.name, LinkBookRecords.Holds.sql,
                [LinkBookRecords.holdsQuery(deals: ["d"], connectors: ["amo"], records: ["1"], reserve: 9).sql]
            ),
            (
                LinkBookRecords.SentCreates.name, LinkBookRecords.SentCreates.sql,
                [LinkBookRecords.sentCreates(to: "masterdeal", accounts: ["a"], names: ["n", "m"], anyName: true).sql]
            ),
            (
                InboxClaims.TakeOverFetches.name, InboxClaims.TakeOverFetches.sql,
                [InboxClaims.takeOverFetches(connector: "amo").sql, InboxClaims.takeOverFetches(connector: nil).sql]
            ),
            (InboxClaims.ClaimDue.name, InboxClaims.ClaimDue.sql, [InboxClaims.claimDue(connector: "amo", limit: 200).sql]),
            (InboxStore.NextDue.name, InboxStore.NextDue.sql, [InboxStore.nextDueQuery(connector: "amo").sql]),
            (
                InboxRecords.Insert.name, InboxRecords.Insert.sql,
                [InboxRecords.insertQuery([item, item], headers: [#"{"a":"b"}"#, "{}"]).sql]
            ),
            (OutboxClaims.NextDue.name, OutboxClaims.NextDue.sql, [OutboxClaims.nextDueQuery(target: "amo").sql]),
            (
                OutboxClaims.Planning.name, OutboxClaims.Planning.sql,
                [OutboxClaims.planning(timeout: .seconds(3), pausedOf: "amo").sql, OutboxClaims.planning(timeout: nil).sql]
            ),
            (DeliveryOutcomes.Claims.name, DeliveryOutcomes.Claims.sql, [DeliveryOutcomes.claimsQuery([1, 2, 3]).sql]),
        ]
        var checked = 0
        for (name, kept, built) in texts {
            #expect(!built.isEmpty)
            for text in built {
                #expect(text == kept, "\(name)")
                checked += 1
            }
        }
        #expect(checked == 14)
        // One name each.
        #expect(Set(texts.map(\.0)).count == texts.count)
        #expect(!texts.map(\.0).contains(DecisionRecords.Save.name) && !texts.map(\.0).contains(OutboxClaims.ClaimHeads.name))
    }

    /// Run on one connection, a kept statement is prepared once, run by name after that, and reads what the one-off
    /// query reads, whether the values of its first call were empty or not.
    @Test func aKeptStatementIsPreparedOnceAndReadsWhatTheQueryReads() async throws {
        try await TestPostgres.withDatabase { database in
            _ = try await database.client.query(
                "INSERT INTO links (connector, record_id, master_deal_id) VALUES ('amo', '1', 'deal-1'), ('amo', '2', NULL), ('b24', '1', 'deal-1')"
            )
            try await database.client.withConnection { connection in
                let queries = [
                    LinkBookRecords.linksQuery(deals: [], connectors: [], records: [], ids: []),
                    LinkBookRecords.linksQuery(deals: ["deal-1"], connectors: [], records: [], ids: []),
                    LinkBookRecords.linksQuery(deals: [], connectors: ["amo", "amo"], records: ["2", "9"], ids: [3]),
                ]
                var kept: [[Int64]] = []
                var oneOff: [[Int64]] = []
                for query in queries {
                    var ids: [Int64] = []
                    for try await row in try await connection.query(LinkBookRecords.Links.self, query, logger: TestPostgres.logger) {
                        ids.append(try row.decode((Int64, String, String?, String?, Bool, Int64?, String?).self).0)
                    }
                    kept.append(ids)
                    ids = []
                    for try await row in try await connection.query(query, logger: TestPostgres.logger) {
                        ids.append(try row.decode((Int64, String, String?, String?, Bool, Int64?, String?).self).0)
                    }
                    oneOff.append(ids)
                }
                #expect(kept == [[], [1, 3], [2, 3]])
                #expect(kept == oneOff)
                let rows = try await connection.query(
                    "SELECT name, statement FROM pg_prepared_statements WHERE from_sql = false", logger: TestPostgres.logger)
                var prepared: [String: String] = [:]
                for try await (name, statement) in rows.decode((String, String).self) { prepared[name] = statement }
                #expect(prepared == [LinkBookRecords.Links.name: LinkBookRecords.Links.sql])
            }
        }
    }

    /// PostgresNIO keeps a refused preparation for the statement's name on its connection and answers every later
    /// call with it; so a statement first sent in a transaction already aborted closes its connection, and the pool's
    /// next connection prepares it afresh.
    @Test func aStatementPostgreSQLRefusedToPrepareClosesItsConnection() async throws {
        try await TestPostgres.withDatabase { database in
            let query = InboxStore.nextDueQuery(connector: "amo")
            try await database.client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: TestPostgres.logger)
                await #expect(throws: PSQLError.self) { try await connection.run("SELECT 1 / 0", logger: TestPostgres.logger) }
                let refused = await #expect(throws: PSQLError.self) {
                    for try await _ in try await connection.query(InboxStore.NextDue.self, query, logger: TestPostgres.logger) {}
                }
                #expect(refused?.serverInfo?[.sqlState] == "25P02", "\(String(describing: refused))")
                #expect(connection.isClosed)
            }
            let due = try await database.client.query(InboxStore.NextDue.self, query, logger: TestPostgres.logger) { rows in
                var read = 0
                for try await _ in rows { read += 1 }
                return read
            }
            #expect(due == 1)
        }
    }
}
