import DealSyncCore
import Foundation

/// `dealsync-bench [--quick] [repository]`: the engine's decision rate and the pipeline's figures (ingest against
/// the HTTP ceiling and a naive durable insert, drain rate by backlog, freshness, isolation between connectors,
/// peak memory), each printed with the target it is held to; exits 1 when one is missed.
/// `dealsync-bench sims …` is the simulators' process of a run (started by the benchmark itself).
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "tenant-sims" {
    do {
        try await BenchTenantSims.run(arguments: Array(arguments.dropFirst()))
    } catch {
        FileHandle.standardError.write(Data("simulators failed: \(error)\n".utf8))
        exit(2)
    }
    exit(0)
}
if arguments.first == "onboard-sims" {
    do {
        try await OnboardSims.run(arguments: Array(arguments.dropFirst()))
    } catch {
        FileHandle.standardError.write(Data("simulators failed: \(error)\n".utf8))
        exit(2)
    }
    exit(0)
}
if arguments.first == "sims" {
    do {
        try await BenchSims.run(arguments: Array(arguments.dropFirst()))
    } catch {
        FileHandle.standardError.write(Data("simulators failed: \(error)\n".utf8))
        exit(2)
    }
    exit(0)
}
let quick = arguments.contains("--quick")
let repository = arguments.first { !$0.hasPrefix("--") } ?? FileManager.default.currentDirectoryPath
let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path

@Sendable func say(_ line: String) { print(line); fflush(nil) }

struct Target {
    let name: String
    let met: Bool
    let detail: String
}
var targets: [Target] = []

say("dealsync benchmark (\(quick ? "quick" : "full") run)")
let mapping = try BenchConfig.mapping(directory: repository, environment: [:])
say("engine: decide → confirm → echo with the tour-agency mapping (pure core, one thread)")
let engine = EngineBench(
    decider: RecordDecider(mapping: mapping, crmConnector: "tour-amocrm", masterConnector: "masterdeal"),
    links: quick ? 500 : 2_000, rounds: quick ? 4 : 20
).run()
say(
    String(
        format: "  %d decisions (%d writes) in %.2f s: %.0f decisions/s", engine.decisions, engine.writes, engine.seconds, engine.perSecond)
)
targets.append(
    Target(name: "engine ≥ 20,000 decisions/s", met: engine.perSecond >= 20_000, detail: String(format: "%.0f/s", engine.perSecond)))
let stored = try EngineBench.storedText(engine.states, rounds: quick ? 20 : 50)
say(
    String(
        format: "  field state as stored: %.0f link documents written and read back per second (%d fields, %d bytes each on average)",
        stored.perSecond, engine.states.first?.count ?? 0, stored.bytes))

let forms = try EngineBench.webhookForms(count: quick ? 20_000 : 100_000)
say(String(format: "  amoCRM webhook bodies parsed (PHP-style form, %d fields): %.0f a second", forms.fields, forms.perSecond))

let only = ProcessInfo.processInfo.environment["DEALSYNC_BENCH_ONLY"] ?? ""
if only.isEmpty || only.contains("kafka") {
    say("bus: MasterDeal's events consumed from Kafka and dealsync's changes published to it")
    do {
        // Measured and reported; the issue sets no target for the bus.
        let k = try await KafkaBench(repository: repository, binaries: binaries, quick: quick, say: say).run()
        say(String(format: "  bus gateway peak RSS: %.0f MiB", k.peakRSS))
    } catch {
        say("Kafka benchmark failed: \(error)")
        exit(2)
    }
}
if only.isEmpty || only.contains("tenants") {
    say("tenants: \(TenantsBench.tenants) amoCRM connectors in one process, then three processes sharing them")
    do {
        let t = try await TenantsBench(repository: repository, binaries: binaries, quick: quick, say: say).run()
        targets.append(
            Target(
                name: "3 serves × \(TenantsBench.tenants + 1) lanes: no process above 40 within a minute", met: t.spread <= 60,
                detail: String(format: "%.1f s, %@", t.spread, "\(t.spreadLoads)")))
        targets.append(
            Target(
                name: "after SIGKILL of one, the survivors run every lane within a minute", met: t.takeover <= 60,
                detail: String(format: "%.1f s, %@", t.takeover, "\(t.takeoverLoads)")))
        targets.append(
            Target(
                name: "tenants: every webhook's lead one deal, none twice, nothing dead-lettered",
                met: t.deals == t.expectedDeals && t.uniqueDeals == t.deals && t.deadLetters == 0,
                detail: "\(t.deals) deals, \(t.uniqueDeals) distinct, \(t.expectedDeals) expected, \(t.deadLetters) dead letters"))
    } catch {
        say("tenants benchmark failed: \(error)")
        exit(2)
    }
}
if only.isEmpty || only.contains("onboard") {
    say("onboarding: an amoCRM account with five years of leads, its deals already in MasterDeal")
    do {
        let o = try await OnboardBench(repository: repository, binaries: binaries, quick: quick, say: say).run()
        let total = o.seconds.values.reduce(0, +)
        // Within amoCRM's budget: no call refused, no second above its 7 requests.
        targets.append(
            Target(
                name: "onboarding: within amoCRM's rate budget (no 429, no second above 7 requests)",
                met: o.rateLimited == 0 && o.busiestSecond <= 7,
                detail: "\(o.rateLimited) answered 429, busiest second \(o.busiestSecond)"))
        targets.append(
            Target(
                name: "onboarding: reads within 10% of the fewest pages of 250",
                met: Double(o.readCalls) <= Double(o.fewestReadCalls) * 1.1,
                detail: "\(o.readCalls) reads, fewest \(o.fewestReadCalls)"))
        targets.append(
            Target(
                name: "onboarding: what it did is what the history was built to hold", met: o.matchedAsBuilt,
                detail: String(format: "%d leads in %.1f s", o.leads, total)))
    } catch {
        say("onboarding benchmark failed: \(error)")
        exit(2)
    }
}
// When only phases that need no pipeline run were asked for, report now.
if !only.isEmpty && !["ingest", "drain", "freshness", "tracing"].contains(where: only.contains) {
    say("targets:")
    for target in targets { say("  [\(target.met ? "met" : "MISSED")] \(target.name): \(target.detail)") }
    exit(targets.allSatisfy(\.met) ? 0 : 1)
}

say("pipeline: dealsync serve, the simulators and the load as separate processes")
let f: ServeBench.Figures
do {
    f = try await ServeBench(repository: repository, binaries: binaries, quick: quick, say: say).run()
} catch {
    say("benchmark failed: \(error)")
    exit(2)
}

// Targets only for what was measured: a phase left out of DEALSYNC_BENCH_ONLY is not reported as missed.
let measured = ServeBench.phases
if measured.contains("ingest") {
    let ingestRatio = f.ingest.requestsPerSecond / f.naiveTPS
    targets.append(
        Target(
            name: "ingest ≥ 1.5× the naive per-request insert", met: ingestRatio >= 1.5,
            detail: String(format: "%.0f/s vs %.0f tx/s = %.2f×", f.ingest.requestsPerSecond, f.naiveTPS, ingestRatio)))
    targets.append(
        Target(name: "ingest p99 ≤ 50 ms at 32 connections", met: f.ingest.p99 <= 50, detail: String(format: "%.2f ms", f.ingest.p99)))
    targets.append(
        Target(
            name: "every ingest answer 2xx", met: f.ingest.non2xx == 0 && f.ingest.socketErrors == 0 && f.ingest.requests > 0,
            detail: "\(f.ingest.non2xx) not 2xx, \(f.ingest.socketErrors) socket errors of \(f.ingest.requests)"))
}
if let smallest = f.drains.first, let largest = f.drains.last {
    let flat = largest.perSecond / smallest.perSecond
    targets.append(
        Target(
            name: "drain ≥ 2,000 observations/s", met: f.drains.allSatisfy { $0.perSecond >= 2_000 },
            detail: f.drains.map { String(format: "%d: %.0f/s", $0.backlog, $0.perSecond) }.joined(separator: ", ")))
    targets.append(Target(name: "drain flat: largest backlog ≥ 0.8× smallest", met: flat >= 0.8, detail: String(format: "%.2f×", flat)))
}
if measured.contains("freshness") {
    targets.append(
        Target(
            name: "freshness p50 ≤ 50 ms at 500 changes/s", met: f.freshness.p50 <= 50, detail: String(format: "%.1f ms", f.freshness.p50)))
    targets.append(
        Target(
            name: "freshness p99 ≤ 250 ms at 500 changes/s", met: f.freshness.p99 <= 250 && f.freshness.count == f.freshness.expected,
            detail: String(format: "%.1f ms, %d of %d", f.freshness.p99, f.freshness.count, f.freshness.expected)))
    targets.append(
        Target(
            name: "isolation: B's freshness p99 ≤ 250 ms during A's burst",
            met: f.isolation.p99 <= 250 && f.isolation.count == f.isolation.expected,
            detail: String(format: "%.1f ms, %d of %d", f.isolation.p99, f.isolation.count, f.isolation.expected)))
}
if f.tracing.count == 3 {
    let (off, on, again) = (f.tracing[0], f.tracing[1], f.tracing[2])
    say(
        String(
            format:
                "tracing's cost (same run, off → on → off): ingest %.0f → %.0f → %.0f req/s, p99 %.2f → %.2f → %.2f ms; drain %.0f → %.0f → %.0f observations/s; %d OTLP exports",
            off.ingest.requestsPerSecond, on.ingest.requestsPerSecond, again.ingest.requestsPerSecond, off.ingest.p99, on.ingest.p99,
            again.ingest.p99, off.drain, on.drain, again.drain, on.exportRequests))
}
if !f.costs.isEmpty {
    say("cost per change (CPU of serve and of PostgreSQL, PostgreSQL's commits and statements, until what each step caused was done):")
    for (step, cost) in f.costs { say("  \(step): \(cost.line)") }
}
targets.append(Target(name: "gateway peak RSS ≤ 200 MB", met: f.peakRSS * 1.048576 <= 200, detail: String(format: "%.0f MiB", f.peakRSS)))

say("targets:")
for target in targets { say("  [\(target.met ? "met" : "MISSED")] \(target.name): \(target.detail)") }
exit(targets.allSatisfy(\.met) ? 0 : 1)
