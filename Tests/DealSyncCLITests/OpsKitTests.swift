import DealSyncGateway
import DealSyncTestSupport
import Foundation
import Testing

/// The operations kit in `ops/`: alert rules checked and unit-tested with promtool, every alert documented and
/// linked to a runbook that exists, and the alerts and the dashboard using only metrics dealsync exports.
struct OpsKitTests {
    let root = Repository.root()

    // MARK: promtool

    @Test func alertRulesPassPromtoolCheck() async throws {
        let result = try await ChildProgram.run(try OpsKit.promtool(), ["check", "rules", OpsKit.alerts], directory: root)
        #expect(result.status == 0, "promtool check rules failed:\n\(result.stdout)\(result.stderr)")
    }

    @Test func alertRuleFixturesPassPromtoolTest() async throws {
        let fixtures = try OpsKit.ruleTestFiles(root: root)
        #expect(!fixtures.isEmpty, "no fixtures in \(OpsKit.ruleTests)")
        let result = try await ChildProgram.run(try OpsKit.promtool(), ["test", "rules"] + fixtures, directory: root)
        #expect(result.status == 0, "promtool test rules failed:\n\(result.stdout)\(result.stderr)")
    }

    @Test func examplePrometheusConfigurationIsValid() async throws {
        let result = try await ChildProgram.run(
            try OpsKit.promtool(), ["check", "config", "ops/prometheus/prometheus.example.yml"],
            directory: root)
        #expect(result.status == 0, "promtool check config failed:\n\(result.stdout)\(result.stderr)")
    }

    // MARK: Alerts

    @Test func everyAlertHasSeveritySummaryDescriptionAndAnExistingRunbook() async throws {
        let alerts = try await OpsKit.alertRules(root: root)
        #expect(alerts.count >= 15, "only \(alerts.count) alerts")
        for alert in alerts {
            let name = alert["alert"] as? String ?? "?"
            let labels = alert["labels"] as? [String: Any] ?? [:]
            let annotations = alert["annotations"] as? [String: Any] ?? [:]
            let severity = labels["severity"] as? String ?? ""
            #expect(["page", "ticket", "info"].contains(severity), "\(name): severity '\(severity)' is not page, ticket or info")
            for key in ["summary", "description", "runbook_url"] {
                #expect(!(annotations[key] as? String ?? "").isEmpty, "\(name): no \(key) annotation")
            }
            guard let url = annotations["runbook_url"] as? String, let start = url.range(of: "ops/runbooks/") else {
                Issue.record("\(name): runbook_url must point into ops/runbooks/")
                continue
            }
            let problem = OpsKit.linkProblem(String(url[start.lowerBound...]), relativeTo: root)
            #expect(problem == nil, "\(name): \(problem ?? "")")
        }
    }

    @Test func everyAlertExpressionUsesOnlyExportedMetrics() async throws {
        let alerts = try await OpsKit.alertRules(root: root)
        var used: Set<String> = []
        for alert in alerts {
            let names = PromQLNames.metrics(in: alert["expr"] as? String ?? "")
            #expect(!names.isEmpty, "\(alert["alert"] ?? "?"): no metric found in its expression")
            let unknown = names.subtracting(OpsKit.allowedSeries)
            #expect(unknown.isEmpty, "\(alert["alert"] ?? "?") uses metrics dealsync does not export: \(unknown.sorted())")
            used.formUnion(names)
        }
        #expect(used.contains("up") && used.contains("dealsync_drift_oldest_open_seconds"))
    }

    @Test func everyAlertHasAFiringAndAQuietFixture() async throws {
        let names = Set(try await OpsKit.alertRules(root: root).compactMap { $0["alert"] as? String })
        var firing: Set<String> = []
        var quiet: Set<String> = []
        for file in try OpsKit.ruleTestFiles(root: root) {
            let document = try await OpsKit.yamlAsJSON(root + "/" + file) as? [String: Any] ?? [:]
            for test in document["tests"] as? [[String: Any]] ?? [] {
                for check in test["alert_rule_test"] as? [[String: Any]] ?? [] {
                    guard let name = check["alertname"] as? String else { continue }
                    if (check["exp_alerts"] as? [Any] ?? []).isEmpty { quiet.insert(name) } else { firing.insert(name) }
                }
            }
        }
        #expect(names.subtracting(firing).isEmpty, "alerts no fixture fires: \(names.subtracting(firing).sorted())")
        #expect(names.subtracting(quiet).isEmpty, "alerts without a case where they stay quiet: \(names.subtracting(quiet).sorted())")
    }

    @Test func metricNamesAreFoundInPromQL() {
        let expr =
            #"sum by (connector, le) (rate(a_bucket{outcome=~"x|y", c="$c"}[$__rate_interval])) > 1.5e0"#
            + #" unless on (target) label_replace(b == 1, "target", "$1", "connector", "(.*)") or time() - c offset 1h > 6 * 3600"#
        #expect(PromQLNames.metrics(in: expr) == ["a_bucket", "b", "c"])
        #expect(PromQLNames.metrics(in: "label_values(dealsync_inbox_pending, connector)") == ["dealsync_inbox_pending"])
    }

    // MARK: Dashboard

    @Test func dashboardIsValidJSONAndQueriesOnlyExportedMetrics() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: root + "/ops/grafana/dealsync.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "not a JSON object")
        let schema = dashboard["schemaVersion"] as? Int ?? 0
        #expect((36...41).contains(schema), "schemaVersion \(schema)")
        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        #expect(variables.contains { $0["name"] as? String == "DS_PROMETHEUS" && $0["type"] as? String == "datasource" })

        let panels = dashboard["panels"] as? [[String: Any]] ?? []
        let rows = panels.filter { $0["type"] as? String == "row" }.compactMap { $0["title"] as? String }
        for row in ["Intake", "Delivery", "Drift", "Connector health"] {
            #expect(rows.contains { $0.hasPrefix(row) }, "no row \(row) in \(rows)")
        }
        var queries: [String] = variables.compactMap { variable in
            (variable["query"] as? [String: Any])?["query"] as? String ?? variable["query"] as? String
        }.filter { $0 != "prometheus" }
        for panel in panels where panel["type"] as? String != "row" {
            let title = panel["title"] as? String ?? "?"
            #expect((panel["datasource"] as? [String: Any])?["uid"] as? String == "${DS_PROMETHEUS}", "\(title): datasource")
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "\(title): no query")
            queries += targets.compactMap { $0["expr"] as? String }
        }
        var used: Set<String> = []
        for query in queries {
            let names = PromQLNames.metrics(in: query)
            #expect(!names.isEmpty, "no metric in \(query)")
            #expect(names.isSubset(of: OpsKit.allowedSeries), "\(query) uses \(names.subtracting(OpsKit.allowedSeries).sorted())")
            used.formUnion(names)
        }
        let missing = OpsKit.exported.subtracting(used.map(OpsKit.family))
        #expect(missing.isEmpty, "exported metrics not on the dashboard: \(missing.sorted())")
    }

    // MARK: Runbooks

    @Test func runbooksAreIndexedAndComplete() throws {
        let directory = root + "/ops/runbooks"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".md") }.sorted()
        for required in [
            "README.md", "drift.md", "dead-letter-replay.md", "reauthorise-oauth.md", "paused-connector.md",
            "lost-webhooks-sweep.md",
        ] {
            #expect(files.contains(required), "ops/runbooks/\(required) is missing")
        }
        let index = try String(contentsOfFile: directory + "/README.md", encoding: .utf8)
        for file in files where file != "README.md" {
            #expect(index.contains("](\(file)"), "README.md does not link \(file)")
            let headings = OpsKit.headings(of: try String(contentsOfFile: directory + "/" + file, encoding: .utf8))
            for section in ["What", "Confirm", "Fix", "Verify", "Escalate"] {
                #expect(headings.contains { $0.hasPrefix(section) }, "\(file) has no section starting with \(section)")
            }
        }
        for file in files {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            for link in OpsKit.relativeLinks(in: text) {
                let problem = OpsKit.linkProblem(link, relativeTo: directory, currentFile: directory + "/" + file)
                #expect(problem == nil, "ops/runbooks/\(file): \(problem ?? "")")
            }
        }
    }

    /// Every `ds <command> [<subcommand>]` a runbook tells on-call to run is a command the binary has.
    @Test func everyCommandARunbookUsesExists() async throws {
        let directory = root + "/ops/runbooks"
        var used: [String: Set<String>] = [:]
        let pattern = try Regex(#"\bds ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?"#)
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".md") {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            for match in text.matches(of: pattern) {
                guard let command = match.output[1].substring.map(String.init) else { continue }
                used[command, default: []].formUnion(match.output[2].substring.map { [String($0)] } ?? [])
            }
        }
        #expect(used.keys.contains("connector") && used.keys.contains("dlq"), "the runbooks were read: \(used.keys.sorted())")
        for (command, words) in used {
            let help = try await ChildProgram.run(try Repository.dealsyncBinary(), [command, "--help"])
            #expect(help.status == 0, "the runbooks use `ds \(command)`, which dealsync does not have: \(help.stderr)")
            guard let section = help.stdout.components(separatedBy: "SUBCOMMANDS:").dropFirst().first else { continue }
            let subcommands = Set(
                section.split(separator: "\n").compactMap { line -> String? in
                    guard line.hasPrefix("  "), !line.hasPrefix("   "), let word = line.split(separator: " ").first,
                        word.allSatisfy({ $0.isLowercase || $0 == "-" })
                    else { return nil }
                    return String(word)
                })
            for word in words {
                #expect(subcommands.contains(word), "the runbooks use `ds \(command) \(word)`; its subcommands are \(subcommands.sorted())")
            }
        }
    }
}

/// Where the kit is, what dealsync exports, and the tools the checks need.
enum OpsKit {
    static let alerts = "ops/prometheus/alerts.yml"
    static let ruleTests = "ops/prometheus/tests"

    /// The metric families dealsync exports (the contract the rules and the dashboard are written against), as
    /// the code declares them.
    static let exported = Set(GatewayMetrics.families.keys)
    static let histograms = Set(GatewayMetrics.families.filter { $0.value == .histogram }.keys)

    /// Series names a query may use: the exported families, a histogram's `_bucket`/`_count`/`_sum`, and `up`.
    static let allowedSeries: Set<String> = exported.union(
        histograms.flatMap { name in
            ["_bucket", "_count", "_sum"].map { name + $0 }
        }
    ).union(["up"])

    /// The family a series belongs to (`x_bucket` → `x` for histograms).
    static func family(_ series: String) -> String {
        for suffix in ["_bucket", "_count", "_sum"] where series.hasSuffix(suffix) {
            let base = String(series.dropLast(suffix.count))
            if histograms.contains(base) { return base }
        }
        return series
    }

    /// promtool from PATH, or an error that says how to install it.
    static func promtool() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/promtool"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ChildProgramError(
            """
            promtool is not installed, so the alert rules cannot be checked. Install the Debian/Ubuntu package \
            `prometheus` (sudo apt-get install --no-install-recommends prometheus), or run ./scripts/prerequisites.sh --tests.
            """)
    }

    static func ruleTestFiles(root: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root + "/" + ruleTests)
            .filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }.sorted().map { ruleTests + "/" + $0 }
    }

    /// A YAML file as JSON objects, read with Python's PyYAML (the contract tests already need it).
    static func yamlAsJSON(_ path: String) async throws -> Any {
        let script = "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1], encoding='utf-8')), sys.stdout)"
        let result = try await ChildProgram.run("/usr/bin/env", ["python3", "-c", script, path])
        guard result.status == 0 else {
            throw ChildProgramError(
                """
                cannot read \(path) with python3 and PyYAML (install python3-yaml, or run ./scripts/prerequisites.sh --tests): \
                \(result.stderr)
                """)
        }
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    }

    /// Every alerting rule in alerts.yml.
    static func alertRules(root: String) async throws -> [[String: Any]] {
        let document = try await yamlAsJSON(root + "/" + alerts) as? [String: Any] ?? [:]
        let groups = document["groups"] as? [[String: Any]] ?? []
        return groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }.filter { $0["alert"] != nil }
    }

    // MARK: Markdown

    static func headings(of markdown: String) -> [String] {
        var inCode = false
        var result: [String] = []
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inCode.toggle() }
            guard !inCode, line.hasPrefix("#") else { continue }
            result.append(line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces))
        }
        return result
    }

    /// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
    static func slug(_ heading: String) -> String {
        String(
            heading.lowercased().compactMap { character -> Character? in
                if character == " " { return "-" }
                return character.isLetter || character.isNumber || character == "-" || character == "_" ? character : nil
            })
    }

    static func relativeLinks(in markdown: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: #"\]\(([^)\s]+)\)"#)
        let range = NSRange(markdown.startIndex..., in: markdown)
        return pattern.matches(in: markdown, range: range).compactMap { Range($0.range(at: 1), in: markdown).map { String(markdown[$0]) } }
            .filter { !$0.contains("://") && !$0.hasPrefix("mailto:") }
    }

    /// Why `link` (a path with an optional `#anchor`, relative to `directory`; only an anchor: in `currentFile`) is
    /// broken, or nil.
    static func linkProblem(_ link: String, relativeTo directory: String, currentFile: String? = nil) -> String? {
        let parts = link.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let file = parts[0].isEmpty ? currentFile ?? "" : directory + "/" + parts[0]
        guard FileManager.default.fileExists(atPath: file) else { return "\(link): \(file) does not exist" }
        guard parts.count == 2, file.hasSuffix(".md") else { return nil }
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return headings(of: text).map(slug).contains(parts[1]) ? nil : "\(link): no heading with the anchor #\(parts[1])"
    }
}

/// The series names a PromQL expression (or a Grafana `label_values(...)` query) selects.
enum PromQLNames {
    static let keywords: Set<String> = [
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
        "bool", "offset", "inf", "nan", "atan2",
    ]

    static func metrics(in expression: String) -> Set<String> {
        var text = expression
        let removals = [
            #""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`"#,  // string literals (label values, label_replace arguments)
            #"\{[^}]*\}"#,  // label matchers
            #"\[[^\]]*\]"#,  // ranges and subqueries
            #"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"#,  // label lists
            #"\boffset\s+-?[0-9a-z]+"#,  // offset durations
            #"\$\{[^}]*\}|\$\w+"#,  // Grafana variables
            #"\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b"#,  // numbers
        ]
        text = text.replacingOccurrences(of: #"label_values\(\s*([^,()]+?)\s*,\s*\w+\s*\)"#, with: "$1", options: .regularExpression)
        for pattern in removals {
            text = text.replacingOccurrences(of: pattern, with: " ", options: .regularExpression)
        }
        let identifier = try! NSRegularExpression(pattern: #"[A-Za-z_:][A-Za-z0-9_:]*"#)
        var names: Set<String> = []
        for match in identifier.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            guard let range = Range(match.range, in: text) else { continue }
            let token = String(text[range])
            let isCall = text[range.upperBound...].first { !$0.isWhitespace } == "("  // a function or an aggregation
            if !isCall && !keywords.contains(token.lowercased()) { names.insert(token) }
        }
        return names
    }
}
