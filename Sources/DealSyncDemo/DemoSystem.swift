import AsyncHTTPClient
import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Everything the scenario drives and inspects.
struct DemoSystem: Sendable {
    let masterDeal: MasterDealSimulator
    let amo: AmoCRMSimulator
    let bitrix: Bitrix24Simulator
    let masterURL: String
    let amoURL: String
    let bitrixURL: String
    let database: Database
    let mapping: Mapping
    let cluster: DatabaseURL

    var logger: Logging.Logger { Logging.Logger(label: "demo", factory: { _ in SwiftLogNoOpLogHandler() }) }

    /// The live lead carrying `masterDealID` in the link field.
    func lead(for masterDealID: String) -> AmoLead? {
        let field = Int(mapping.linkField.dropFirst("custom_fields.".count)) ?? 0
        return amo.allLeads(includingDeleted: false).first { $0.values(ofField: field)?.first == masterDealID }
    }

    func stageName(_ statusID: Int) -> String {
        mapping.stages.crmStageName(StageMatrix.amoKey(pipeline: Int64(mapping.pipeline), status: Int64(statusID))) ?? String(statusID)
    }

    func ownerName(_ userID: Int) -> String {
        mapping.owners.entries.first { $0.crm == String(userID) }?.name ?? String(userID)
    }

    /// Writes still waiting for a target.
    func openWrites() async throws -> Int {
        try await OutboxClaims(database: database, logger: logger).depth().reduce(0) { $0 + $1.open }
    }

    func divergence(kinds: [String]) async throws -> [DivergenceRecord] {
        try await DivergenceStore(database: database, logger: logger).list(.init(kinds: kinds))
    }

    func deadLetters(status: String? = "open") async throws -> [DeadLetter] {
        try await DeadLetterStore(database: database, logger: logger).list(DeadLetterFilter(status: status))
    }
}

/// Waiting and probing helpers the demo and the benchmark share.
public enum DemoWaiting {
    /// Multiplies every step's `timeout` (`dealsync demo --patience`), for a slow or busy machine.
    @TaskLocal public static var patience: Double = 1

    /// Polls `condition` every 100 ms until it holds or `timeout` (times the patience) passes (then throws).
    public static func until(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout * patience
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DemoError("timed out waiting until \(what)")
    }
}

public enum DemoHTTP {
    public static func status(_ url: String) async -> Int? {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)) else { return nil }
        _ = try? await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }
}
