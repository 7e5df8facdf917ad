import DealSyncCore
import DealSyncDemo
import Foundation

/// `swift run -c release dealsync-bench [--quick]`: the engine's decision rate, webhook answer times under load
/// and end-to-end settling on the embedded default, and the process's peak memory. Prints figures and whether
/// each meets the target the README states; exits 1 when one does not.
let arguments = CommandLine.arguments.dropFirst()
let quick = arguments.contains("--quick")
let directory = arguments.first { !$0.hasPrefix("--") } ?? FileManager.default.currentDirectoryPath

@Sendable func say(_ line: String) { print(line); fflush(nil) }
/// The peak resident set size so far, from `VmHWM` in /proc/self/status (Linux).
func rssMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return .nan }
    return kib / 1024
}
func percentile(_ sorted: [Duration], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
    return PipelineBench.seconds(sorted[max(index, 0)]) * 1000
}

struct Target {
    let name: String
    let met: Bool
    let detail: String
}
var targets: [Target] = []

let environment = try DemoEnvironment(directory: directory, gatewayPort: 1)
let configuration = try ConfigurationLoader(environment: environment.values).load(directory: directory)
guard let mapping = configuration.mappings["tour-agency"] else { throw BenchError("mappings/tour-agency.yaml is missing") }

say("dealsync benchmark (\(quick ? "quick" : "full") run)")
say("engine: decide → confirm → echo with the tour-agency mapping (pure core, one thread)")
let engine = EngineBench(decider: RecordDecider(mapping: mapping, crmConnector: "tour-amocrm", masterConnector: "masterdeal"),
                         links: quick ? 500 : 2_000, rounds: quick ? 4 : 20).run()
say(String(format: "  %d decisions (%d writes) in %.2f s: %.0f decisions/s", engine.decisions, engine.writes, engine.seconds, engine.perSecond))
targets.append(Target(name: "engine ≥ 20,000 decisions/s", met: engine.perSecond >= 20_000, detail: String(format: "%.0f/s", engine.perSecond)))

let leads = quick ? 200 : 1_000
say("pipeline: \(leads) amoCRM add webhooks → MasterDeal deals → master_deal_id written back (embedded PostgreSQL, simulators)")
let pipeline = try await PipelineBench(directory: directory, leads: leads, senders: 16).run(log: say)
let sorted = pipeline.answers.sorted()
let p50 = percentile(sorted, 0.50), p99 = percentile(sorted, 0.99), worst = percentile(sorted, 1.0)
say(String(format: "  webhook answers: %d in %.2f s (%.0f/s); p50 %.1f ms, p99 %.1f ms, max %.1f ms; statuses %@",
           sorted.count, pipeline.intakeSeconds, Double(sorted.count) / pipeline.intakeSeconds, p50, p99, worst,
           pipeline.statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")))
say(String(format: "  settled: %d deals in MasterDeal, %d leads linked, %.1f s after the first webhook (%.1f deals/s end to end)",
           pipeline.deals, pipeline.linkedLeads, pipeline.settleSeconds, Double(pipeline.deals) / pipeline.settleSeconds))
targets.append(Target(name: "every webhook answered 200", met: pipeline.statuses[200] == leads, detail: "\(pipeline.statuses)"))
targets.append(Target(name: "webhook p99 < 250 ms under 16 senders (amoCRM allows 2 s)", met: p99 < 250, detail: String(format: "%.1f ms", p99)))
targets.append(Target(name: "exactly one deal per lead", met: pipeline.deals == leads && pipeline.linkedLeads == leads,
                      detail: "\(pipeline.deals) deals, \(pipeline.linkedLeads) linked"))
let rss = rssMiB()
say(String(format: "memory: peak RSS of this process (gateway, simulators, client) %.0f MiB", rss))
targets.append(Target(name: "peak RSS < 300 MiB", met: rss < 300, detail: String(format: "%.0f MiB", rss)))

say("targets:")
for target in targets { say("  [\(target.met ? "met" : "MISSED")] \(target.name): \(target.detail)") }
exit(targets.allSatisfy(\.met) ? 0 : 1)
