import AsyncHTTPClient
import DealSyncCore
import DealSyncDemo
import DealSyncGateway
import DealSyncSimulators
import DealSyncStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// The whole path on the embedded default: salespeople create leads in amoCRM, their `add` webhooks hit the
/// gateway from concurrent senders, and each lead becomes a MasterDeal deal whose id is written back into the
/// lead's link field. Measures webhook answer times under load and how fast the whole backlog settles.
struct PipelineBench {
    let directory: String
    let leads: Int
    let senders: Int

    struct Result {
        var answers: [Duration] = []
        var statuses: [Int: Int] = [:]
        var intakeSeconds = 0.0
        var settleSeconds = 0.0
        var deals = 0
        var linkedLeads = 0
    }

    func run(log: @escaping @Sendable (String) -> Void) async throws -> Result {
        let logger = Self.quietLogger()
        let cluster = try EmbeddedPostgres.start()
        defer { cluster.stop() }
        let environment = try DemoEnvironment(directory: directory, gatewayPort: 0)
        return try await environment.withStage(cluster: cluster.url, logger: logger) { stage in
            var options = Gateway.Options()
            options.port = environment.gatewayPort
            options.polling = false  // only the webhooks under test bring changes in
            options.relayIdlePoll = .milliseconds(200)
            let gateway = Gateway(configuration: stage.configuration, database: stage.database, options: options, logger: logger)
            let group = ServiceGroup(configuration: .init(services: gateway.services().map { .init(service: $0) }, logger: logger))
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                defer { tasks.cancelAll() }
                let gatewayURL = "http://127.0.0.1:\(environment.gatewayPort)"
                try await DemoWaiting.until("the gateway is ready", timeout: .seconds(30)) { await DemoHTTP.status("\(gatewayURL)/readyz") == 200 }
                let result = try await load(amo: stage.amo, masterDeal: stage.masterDeal, mapping: stage.mapping,
                                            hook: "\(gatewayURL)/webhooks/tour-amocrm/\(environment.amoWebhookSecret)", log: log)
                await group.triggerGracefulShutdown()
                return result
            }
        }
    }

    private func load(amo: AmoCRMSimulator, masterDeal: MasterDealSimulator, mapping: Mapping, hook: String,
                      log: @Sendable (String) -> Void) async throws -> Result {
        // The leads exist before their webhooks are sent: amoCRM's own sender is paused (its deliveries are dropped).
        amo.pauseWebhooks()
        let owners = mapping.owners.entries.compactMap { Int($0.crm) }
        var created: [String] = []
        for index in 0..<leads {
            let lead = try amo.createAsSalesperson(
                userID: owners[index % owners.count],
                AmoLeadFields(name: "Бенчмарк, лид \(index)", price: 100_000 + index, responsibleUserID: owners[index % owners.count]))
            guard let body = amo.addWebhookBody(leadID: lead.id) else { throw BenchError("no webhook body for lead \(lead.id)") }
            created.append(body)
        }
        log("  \(leads) leads created in the amoCRM simulator; sending their webhooks from \(senders) senders")

        let bodies = created  // shared read-only with the senders
        var result = Result()
        let started = ContinuousClock.now
        let next = NextIndex()
        let answers = try await withThrowingTaskGroup(of: [(Duration, Int)].self) { group in
            for _ in 0..<senders {
                group.addTask {
                    var mine: [(Duration, Int)] = []
                    while let index = next.take(below: bodies.count) {
                        var request = HTTPClientRequest(url: hook)
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                        request.body = .bytes(ByteBuffer(string: bodies[index]))
                        let sent = ContinuousClock.now
                        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 16)
                        mine.append((sent.duration(to: .now), Int(response.status.code)))
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        result.intakeSeconds = Self.seconds(started.duration(to: .now))
        result.answers = answers.map(\.0)
        for (_, status) in answers { result.statuses[status, default: 0] += 1 }

        let linkField = Int(mapping.linkField.dropFirst("custom_fields.".count)) ?? 0
        func counts() -> (deals: Int, linked: Int) {
            let deals = masterDeal.allDeals().filter { $0.opportunityName.hasPrefix("Бенчмарк, лид ") }.count
            let linked = amo.allLeads(includingDeleted: false).filter { $0.values(ofField: linkField)?.first?.isEmpty == false }.count
            return (deals, linked)
        }
        try await DemoWaiting.until("every lead has its deal and link", timeout: .seconds(Double(leads) / 2 + 120)) {
            let now = counts()
            return now.deals >= leads && now.linked >= leads
        }
        result.settleSeconds = Self.seconds(started.duration(to: .now))
        // Anything late (a duplicate create) would show up now.
        try await Task.sleep(for: .seconds(2))
        (result.deals, result.linkedLeads) = counts()
        return result
    }

    static func quietLogger() -> Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        return logger
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Hands out indexes to concurrent senders.
final class NextIndex: Sendable {
    private let next = Mutex(0)
    func take(below limit: Int) -> Int? {
        next.withLock { value in
            guard value < limit else { return nil }
            defer { value += 1 }
            return value
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

import Synchronization
