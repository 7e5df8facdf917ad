import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The benchmark's own amoCRM sender: webhook bodies written from amoCRM's wire format (legacy v2 form, PHP
/// bracket keys percent-encoded, every value a string), posted at a fixed rate or as fast as `connections`
/// allow, with each answer's status and time.
struct AmoLoad: Sendable {
    let url: String
    let client: HTTPClient

    /// What lead `id` holds in the amoCRM simulator (``BenchSims/makeLeads(_:count:)``) and what its webhook
    /// announces: a webhook saying what amoCRM does not hold would be drift the gateway's reconciler finds and repairs
    /// (thousands of writes back to amoCRM in a long run), load no real account makes.
    static func name(leadID id: Int) -> String { "Bench lead \(id)" }
    static func price(leadID id: Int) -> Int { 100_000 + id % 1000 }
    static let (statusID, pipelineID, userID) = (7_001_001, 7_001_000, 6_001_001)

    /// One `leads[update]` webhook for lead `id`, with the values the simulator holds for it. The freshness of a
    /// change is read from the lead's id in its deal's name and the time its webhook was sent.
    static func body(leadID id: Int, now: Int) -> String {
        func key(_ field: String) -> String { "leads%5Bupdate%5D%5B0%5D%5B\(field)%5D" }
        let name = Self.name(leadID: id).replacingOccurrences(of: " ", with: "+")
        return [
            "account%5Bsubdomain%5D=touragency", "account%5Bid%5D=31415926",
            "\(key("id"))=\(id)", "\(key("name"))=\(name)", "\(key("status_id"))=\(statusID)", "\(key("pipeline_id"))=\(pipelineID)",
            "\(key("price"))=\(price(leadID: id))", "\(key("responsible_user_id"))=\(userID)", "\(key("last_modified"))=\(now)",
            "\(key("modified_user_id"))=\(userID)", "\(key("created_user_id"))=\(userID)", "\(key("date_create"))=\(now)",
            "\(key("account_id"))=31415926",
        ].joined(separator: "&")
    }

    struct Answers: Sendable {
        var times: [Double] = []
        var statuses: [Int: Int] = [:]
        var seconds = 0.0
        /// Lead id → unix milliseconds when its webhook was sent.
        var sent: [Int: Int64] = [:]
        /// Leads whose webhook was not answered 2xx.
        var refused: [Int] = []

        var count: Int { times.count }
        var allOK: Bool { statuses.keys.allSatisfy { (200..<300).contains($0) } && !statuses.isEmpty }
        func percentile(_ p: Double) -> Double { Stats.percentile(times, p) }
    }

    /// Posts a webhook for each of `leads`: at `rate` per second when given, else back to back over `connections`.
    func send(leads: [Int], rate: Double? = nil, connections: Int = 32) async throws -> Answers {
        try await Self.send(leads.map { (url, $0) }, client: client, rate: rate, connections: connections)
    }

    /// Posts a webhook for each lead to its own URL (many tenants' hooks): at `rate` per second when given, else
    /// back to back over `connections`.
    static func send(
        _ targets: [(url: String, lead: Int)], client: HTTPClient, rate: Double? = nil, connections: Int = 32
    ) async throws -> Answers {
        let leads = targets.map(\.lead)
        let next = NextIndex()
        let started = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: Answers.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    var mine = Answers()
                    while true {
                        guard let index = next.take(below: leads.count) else { return mine }
                        if let rate {
                            let due = started.advanced(by: .seconds(Double(index) / rate))
                            if ContinuousClock.now < due { try await Task.sleep(until: due) }
                        }
                        let now = Date().timeIntervalSince1970
                        let sentMillis = Int64(now * 1000)
                        var request = HTTPClientRequest(url: targets[index].url)
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                        request.body = .bytes(ByteBuffer(string: Self.body(leadID: leads[index], now: Int(now))))
                        let sent = ContinuousClock.now
                        let response = try await client.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 16)
                        mine.times.append(sent.duration(to: .now).milliseconds)
                        mine.statuses[Int(response.status.code), default: 0] += 1
                        mine.sent[leads[index]] = sentMillis
                        if !(200..<300).contains(Int(response.status.code)) { mine.refused.append(leads[index]) }
                    }
                }
            }
            return try await group.reduce(into: Answers()) { all, one in
                all.times += one.times
                all.statuses.merge(one.statuses, uniquingKeysWith: +)
                all.sent.merge(one.sent) { $1 }
                all.refused += one.refused
            }
        }
        var answers = results
        answers.seconds = started.duration(to: .now).seconds
        return answers
    }
}

enum Stats {
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))
        return sorted[index]
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
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
