import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import Testing

/// Two `dealsync serve` processes share MasterDeal's events topic as one consumer group; one is SIGKILLed with
/// events still coming, and the survivor takes its partitions over: every deal arrives in amoCRM once, in its
/// latest state.
struct KafkaGroupTests {
    static let deals = 40

    /// The partitions a process says in its `/metrics` that it holds.
    static func partitions(in metrics: String) -> Set<String> {
        Set(
            metrics.split(separator: "\n").filter {
                $0.hasPrefix("dealsync_kafka_partition_assigned{") && Double($0.split(separator: " ").last ?? "") == 1
            }.compactMap { line in
                line.range(of: #"partition="[0-9]+""#, options: .regularExpression).map { String(line[$0]) }
            })
    }

    @Test func twoProcessesSplitThePartitionsAndASurvivorTakesOverAfterSIGKILL() async throws {
        var options = Scenario.Options()
        options.kafka = true
        options.polling = false
        options.amoWebhooksToGateway = false
        try await Scenario.run(options) { scenario in
            let masterDeal = scenario.masterDeal
            try await scenario.startGateway()
            let other = try await scenario.startAnotherGateway()
            defer { other.program.signal(SIGKILL) }

            // Both members hold partitions, and between them all eight.
            do {
                try await eventually("the group spread the partitions over both processes", timeout: .seconds(40)) {
                    let first = Self.partitions(in: try await scenario.get("/metrics").body)
                    let second = Self.partitions(in: try await scenario.send(.GET, other.url + "/metrics").body)
                    return !first.isEmpty && !second.isEmpty && first.isDisjoint(with: second) && first.union(second).count == 8
                }
            } catch {
                for url in [scenario.gatewayURL, other.url] {
                    print(
                        try await scenario.send(.GET, url + "/metrics").body.split(separator: "\n").filter { $0.contains("kafka") }.joined(
                            separator: "\n"))
                }
                throw error
            }

            var ids: [String] = []
            func create(_ index: Int) throws {
                let deal = try masterDeal.createAsUser(
                    .object([
                        "account_id": .string(Scenario.account), "opportunity_name": .string("BUS-\(index)"), "stage": .string("lead"),
                        "amount": .string("\(10_000 + index).00"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
                    ]))
                ids.append(deal.id)
            }
            for index in 0..<(Self.deals / 2) { try create(index) }
            try await eventually("the first half reached amoCRM", timeout: .seconds(40)) {
                scenario.leads().count >= Self.deals / 4
            }
            // The first process dies the hard way, with events of its partitions still to come.
            await scenario.killGateway()
            for index in (Self.deals / 2)..<Self.deals { try create(index) }
            // Each deal moves on once more: per-deal order must hold through the takeover.
            for id in ids { try masterDeal.editAsUser(id: id, changes: .object(["stage": .string("qualified")])) }

            do {
                try await eventually("every deal is in amoCRM, qualified", timeout: .seconds(60)) {
                    let leads = scenario.leads()
                    return leads.count == Self.deals && scenario.disagreements().isEmpty
                }
            } catch {
                Issue.record("\(error)\n\(scenario.disagreements().prefix(20).joined(separator: "\n"))")
                throw error
            }
            let leads = scenario.leads()
            #expect(leads.count == Self.deals, "one lead per deal: nothing applied twice")
            #expect(Set(leads.map(\.name)).count == Self.deals)
            #expect(leads.allSatisfy { $0.statusID == 7_001_002 })
            // The group may still be settling (a rebalance revokes and assigns again): the survivor ends up holding all.
            try await eventually("the survivor holds every partition", timeout: .seconds(30)) {
                Self.partitions(in: try await scenario.send(.GET, other.url + "/metrics").body).count == 8
            }
            // Every event was stored once, whichever process consumed it.
            #expect(
                try await scenario.count("SELECT count(*) FROM inbox WHERE connector = 'masterdeal' AND source = 'kafka'") == 2 * Self.deals
            )
        }
    }
}

/// `dealsync demo --bus kafka`: the demo's story with MasterDeal on a Kafka bus, checking itself.
struct KafkaDemoTests {
    @Test func theDemoPassesItsChecksOverTheBus() async throws {
        let result = try await ChildProgram.run(
            // Each step may wait three times its usual limit: the suite's other tests share the two cores.
            try Repository.dealsyncBinary(), ["demo", "--bus", "kafka", "--config", Repository.root(from: #filePath), "--patience", "3"])
        // The failed checks first (the output is long), then the end of both streams.
        let failed = result.stdout.split(separator: "\n").filter { $0.contains("✗") }.joined(separator: "\n")
        #expect(result.status == 0, "\(failed)\n\(result.stdout.suffix(3000))\(result.stderr.suffix(2000))")
        #expect(result.stdout.contains("kafka: masterdeal deal"), "an event reached dealsync through the topic")
        let summary = result.stdout.split(separator: "\n").last { $0.hasPrefix("demo: ") }.map(String.init)
        #expect(summary?.hasSuffix("checks passed, 0 failed") == true, "\(summary ?? "no summary")")
    }
}
