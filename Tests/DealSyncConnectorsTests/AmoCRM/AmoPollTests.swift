import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import Testing

/// `poll(from:)` against the simulator, its pages stored through `PollStore` into a fresh database.
@Suite(.serialized)
struct AmoPollTests {
    /// Polls and stores until the connector says nothing more is waiting; returns how many rows were new.
    static func catchUp(_ connector: AmoCRMConnector, _ polls: PollStore, maxPolls: Int = 20) async throws -> (stored: Int, polls: Int) {
        var stored = 0
        for poll in 1...maxPolls {
            let cursor = try await polls.cursor(connector: AmoFixture.connectorID)
            let result = try await connector.poll(from: cursor)
            stored += try await polls.store(result.items, cursor: result.cursor, connector: AmoFixture.connectorID)
            if !result.hasMore { return (stored, poll) }
        }
        throw HarnessError("still more to poll after \(maxPolls) polls")
    }

    static func leadJSON(_ name: String, updatedAt: Int, price: Int = 1000) -> String {
        #"{"name":"\#(name)","price":\#(price),"status_id":7001002,"pipeline_id":7001000,"#
            + #""created_at":\#(updatedAt),"updated_at":\#(updatedAt)}"#
    }

    static func inboxKeys(_ database: Database) async throws -> [String] {
        try await InboxStore(database: database, logger: TestPostgres.logger).rows(connector: AmoFixture.connectorID, limit: 100_000)
            .map(\.dedupeKey)
    }

    @Test func hundredsOfLeadsSharingOneSecondArePolledExactlyOnce() async throws {
        try await TestPostgres.withDatabase { database in
            try await AmoHarness.run { amo in
                // 360 leads: 20 a minute earlier, 300 in one second (more than a page of 250), 40 a second later.
                let tie = amo.simulator.now - 600
                var ids: [Int] = []
                ids += try await amo.createLeads((0..<20).map { Self.leadJSON("Ранний \($0)", updatedAt: tie - 60) })
                for batch in 0..<2 {
                    ids += try await amo.createLeads((0..<150).map { Self.leadJSON("Тур \(batch)-\($0)", updatedAt: tie) })
                }
                ids += try await amo.createLeads((0..<40).map { Self.leadJSON("Поздний \($0)", updatedAt: tie + 1) })
                #expect(amo.simulator.allLeads().filter { $0.updatedAt == tie }.count == 300)
                amo.simulator.advanceLimitClock(by: .seconds(2))  // the set-up's requests leave amoCRM's window

                let connector = amo.connector()
                let polls = PollStore(database: database, logger: TestPostgres.logger)
                let (stored, pollCount) = try await Self.catchUp(connector, polls)
                #expect(stored == 360, "every lead once, no more, no fewer")
                let keys = try await Self.inboxKeys(database)
                #expect(keys.count == 360)
                let polledIDs = keys.compactMap { $0.split(separator: ":").dropFirst().first.flatMap { Int($0) } }
                #expect(Set(polledIDs) == Set(ids), "each lead id exactly once")
                #expect(polledIDs.count == Set(polledIDs).count)
                #expect(pollCount <= 4, "paging through the tie second ends")

                // Caught up: the next poll stores nothing new.
                let again = try await Self.catchUp(connector, polls)
                #expect(again.stored == 0)
                #expect(amo.simulator.stats.rateLimited == 0)
            }
        }
    }

    @Test func aLeadWrittenInTheBoundarySecondAfterAPollIsFoundByTheNext() async throws {
        try await TestPostgres.withDatabase { database in
            try await AmoHarness.run { amo in
                let boundary = amo.simulator.now - 30
                let first = try await amo.createLeads([
                    Self.leadJSON("Первый", updatedAt: boundary - 10), Self.leadJSON("Второй", updatedAt: boundary),
                    Self.leadJSON("Третий", updatedAt: boundary),
                ])
                amo.simulator.advanceLimitClock(by: .seconds(2))
                let connector = amo.connector()
                let polls = PollStore(database: database, logger: TestPostgres.logger)
                #expect(try await Self.catchUp(connector, polls).stored == 3)

                // After the poll, still within its newest second: a new lead, another edit of a polled lead with the
                // same updated_at, and a lead stamped a second earlier (a write that committed late).
                let late = try await amo.createLeads([
                    Self.leadJSON("Четвёртый", updatedAt: boundary),
                    Self.leadJSON("Пятый", updatedAt: boundary - 1),
                ])
                let (status, _) = try await amo.api(
                    .PATCH, "/api/v4/leads/\(first[2])",
                    json: #"{"price":2500,"updated_at":\#(boundary)}"#)
                #expect(status == 200)
                #expect(amo.simulator.lead(id: first[2])?.updatedAt == boundary)
                amo.simulator.advanceLimitClock(by: .seconds(2))

                #expect(try await Self.catchUp(connector, polls).stored == 3, "two new leads and the second state of one")
                let keys = try await Self.inboxKeys(database)
                for id in late { #expect(keys.contains { $0.hasPrefix("lead:\(id):") }) }
                #expect(keys.filter { $0.hasPrefix("lead:\(first[2]):") }.count == 2, "both states of the lead edited twice in one second")
                #expect(try await Self.catchUp(connector, polls).stored == 0)
            }
        }
    }

    @Test func noChangesIs204AndTheCursorStays() async throws {
        try await AmoHarness.run { amo in
            let connector = amo.connector()
            let empty = try await connector.poll(from: nil)
            #expect(empty.items.isEmpty)
            #expect(!empty.hasMore)
            #expect(amo.simulator.stats.requestsByStatus["204"] == 1, "amoCRM answers an empty list with 204")
            let cursor = try #require(JSONValue.parse(Data(empty.cursor.utf8)))
            #expect(cursor["from"]?.int64 != nil)

            let future = amo.simulator.now + 3600
            let later = try await connector.poll(from: #"{"from":\#(future),"page":1}"#)
            #expect(later.items.isEmpty)
            #expect(!later.hasMore)
            #expect(JSONValue.parse(Data(later.cursor.utf8))?["from"]?.int64 == Int64(future), "nothing newer: the cursor keeps its place")
        }
    }

    @Test func theCursorSurvivesAsJSONTextInTheDatabase() async throws {
        try await TestPostgres.withDatabase { database in
            try await AmoHarness.run { amo in
                let old = amo.simulator.now - 3600
                _ = try await amo.createLeads((0..<10).map { Self.leadJSON("Давний \($0)", updatedAt: old - 100) })
                _ = try await amo.createLeads((0..<30).map { Self.leadJSON("Старый \($0)", updatedAt: old) })
                amo.simulator.advanceLimitClock(by: .seconds(2))
                let connector = amo.connector()
                let polls = PollStore(database: database, logger: TestPostgres.logger)
                #expect(try await Self.catchUp(connector, polls).stored == 40)

                // PostgreSQL hands the cursor back as jsonb text (its own spacing); the next poll resumes from it.
                let text = try #require(try await polls.cursor(connector: AmoFixture.connectorID))
                let cursor = try #require(JSONValue.parse(Data(text.utf8)))
                #expect(cursor["from"]?.int64 == Int64(old - 2), "the newest second minus the 2 s overlap")
                let resumed = try await connector.poll(from: text)
                #expect(resumed.items.count == 30, "re-reads only the overlap, not from the beginning")

                _ = try await amo.createLeads([Self.leadJSON("Новый", updatedAt: amo.simulator.now)])
                amo.simulator.advanceLimitClock(by: .seconds(2))
                let next = try await connector.poll(from: resumed.cursor)
                #expect(next.items.count == 31, "the overlap and the new lead")
                let latest = try await connector.poll(from: next.cursor)
                #expect(latest.items.count == 1, "the old leads are behind the cursor now")
                let item = try #require(latest.items.first)
                #expect(item.source == .poll)
                let observation = try #require(try connector.decodeStored(item).observations?.first)
                #expect(observation.fields["name"] == .text("Новый"))
                #expect(observation.isComplete)
            }
        }
    }
}
