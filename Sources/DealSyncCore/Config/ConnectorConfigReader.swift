import Foundation

/// Reads one `connectors/*.yaml` document into a ``ConnectorConfig``, reporting every problem.
struct ConnectorConfigReader {
    let file: String
    let sink: DiagnosticSink

    func read(_ root: YAMLValue) -> ConnectorConfig? {
        guard let doc = YAMLMappingReader(root, path: "", sink: sink) else { return nil }
        var locations: [String: SourceLocation] = [:]
        for key in doc.keys { locations[key.name] = key.location }

        let id = doc.string("id")
        if let id, !Self.isURLSafe(id), let node = doc.node("id") {
            sink.report(node.location, "id: '\(id)' is not URL-safe (use lowercase letters, digits, '-' and '_', at most 63)")
        }
        let kind = doc.choice("kind", ConnectorKind.self)
        let baseURL = doc.string("base_url")
        if let baseURL, let node = doc.node("base_url"), !Self.isHTTPURL(baseURL) {
            sink.report(node.location, "base_url: expected an http or https URL with a host")
        }
        let mapping = doc.string("mapping", required: false)
        let masterAccount = doc.string("master_account", required: false)
        if let kind {
            if kind == .masterdeal {
                for key in ["mapping", "master_account"] {
                    if let node = doc.node(key) {
                        sink.report(node.location, "\(key): a masterdeal connector has no \(key) (MasterDeal is the canonical side)")
                    }
                }
            } else {
                if mapping == nil && doc.node("mapping") == nil {
                    sink.report(doc.location, "missing required key 'mapping' (the mapping this \(kind.rawValue) connector syncs by)")
                }
            }
        }
        let auth = readAuth(doc, kind: kind)
        let events = readEvents(doc, kind: kind)
        let writes = readWrites(doc, kind: kind, events: events)
        var writesBus: ConnectorConfig.KafkaBus?
        if case .kafka(let bus, _)? = writes { writesBus = bus }
        let decisions = readDecisions(doc, kind: kind, shared: events?.bus ?? writesBus)
        // A MasterDeal that publishes its events on Kafka may send no webhooks at all.
        let webhook =
            kind == .masterdeal && doc.node("events") != nil && doc.node("webhook") == nil
            ? .hmac(secrets: [], tolerance: .seconds(300)) : readWebhook(doc, kind: kind)
        let poll = readPoll(doc)
        let rateLimit = readRateLimit(doc, kind: kind)
        let delivery = readDelivery(doc, kind: kind, toKafka: writes.map { if case .kafka = $0 { true } else { false } } ?? false)
        let reconcile = readReconcile(doc, kind: kind)
        doc.finish()

        guard let id, let kind, let baseURL, let auth, let webhook, let poll, let rateLimit, let delivery, let writes, decisions.ok else {
            return nil
        }
        return ConnectorConfig(
            id: id, kind: kind, baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL,
            mapping: mapping, masterAccount: masterAccount, auth: auth, webhook: webhook, poll: poll,
            rateLimit: rateLimit, delivery: delivery, reconcile: reconcile ?? .init(), events: events, writes: writes,
            decisions: decisions.feed, file: file,
            locations: locations)
    }

    static func isURLSafe(_ id: String) -> Bool {
        guard (1...63).contains(id.count), let first = id.unicodeScalars.first,
            ("a"..."z").contains(first) || ("0"..."9").contains(first)
        else { return false }
        return id.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }

    static func isHTTPURL(_ text: String) -> Bool {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { return false }
        return components.query == nil && components.fragment == nil
    }

    private func readAuth(_ doc: YAMLMappingReader, kind: ConnectorKind?) -> ConnectorConfig.Auth? {
        guard let auth = doc.mapping("auth") else { return nil }
        defer { auth.finish() }
        let bearer = auth.secret("bearer_token", required: false)
        let oauthNode = auth.mapping("oauth", required: false)
        let webhookNode = auth.mapping("webhook", required: false)
        let given = [bearer != nil, oauthNode != nil, webhookNode != nil].filter { $0 }.count
        guard given == 1 else {
            let allowed = Self.authKinds(for: kind).joined(separator: ", ")
            sink.report(auth.location, "auth: give exactly one of \(allowed)")
            return nil
        }
        if let bearer {
            if kind == .bitrix24, let node = auth.node("bearer_token") {
                sink.report(node.location, "auth.bearer_token: Bitrix24 uses 'webhook' (inbound webhook URL) or 'oauth'")
                return nil
            }
            return .bearer(bearer)
        }
        if let oauth = oauthNode {
            defer { oauth.finish() }
            if kind == .masterdeal {
                sink.report(oauth.location, "auth.oauth: MasterDeal uses bearer_token")
            }
            let clientID = oauth.string("client_id")
            let clientSecret = oauth.secret("client_secret")
            let redirect = oauth.string("redirect_uri", required: kind == .amocrm)
            let tokenURL = oauth.string("token_url", required: false)
            if let tokenURL, !Self.isHTTPURL(tokenURL), let node = oauth.node("token_url") {
                sink.report(node.location, "auth.oauth.token_url: expected an http or https URL")
            }
            let refresh = oauth.secret("refresh_token", required: false)
            guard let clientID, let clientSecret, kind != .masterdeal else { return nil }
            return .oauth(
                .init(
                    clientID: clientID, clientSecret: clientSecret, redirectURI: redirect, tokenURL: tokenURL,
                    initialRefreshToken: refresh))
        }
        if let hook = webhookNode {
            defer { hook.finish() }
            if kind != .bitrix24 {
                sink.report(hook.location, "auth.webhook: only Bitrix24 calls its API through an inbound webhook")
            }
            let user = hook.int("user_id", range: 1...Int(Int32.max))
            let code = hook.secret("code")
            guard let user, let code, kind == .bitrix24 else { return nil }
            return .inboundWebhook(userID: user, code: code)
        }
        return nil
    }

    private static func authKinds(for kind: ConnectorKind?) -> [String] {
        switch kind {
        case .amocrm: ["oauth", "bearer_token (long-lived token)"]
        case .bitrix24: ["webhook", "oauth"]
        case .masterdeal: ["bearer_token"]
        case nil: ["bearer_token", "oauth", "webhook"]
        }
    }

    private func readWebhook(_ doc: YAMLMappingReader, kind: ConnectorKind?) -> ConnectorConfig.WebhookAuth? {
        guard let hook = doc.mapping("webhook") else { return nil }
        defer { hook.finish() }
        switch kind {
        case .amocrm:
            guard let secret = hook.secret("secret") else { return nil }
            if secret.reveal().count < 16, let node = hook.node("secret") {
                sink.report(
                    node.location, "webhook.secret: must be at least 16 characters (it is the only proof a webhook came from amoCRM)")
                return nil
            }
            return .pathSecret(secret)
        case .bitrix24:
            let token = hook.secret("application_token")
            let member = hook.string("member_id", required: false)
            let domain = hook.string("domain", required: false)
            guard let token else { return nil }
            return .applicationToken(token, memberID: member, domain: domain)
        case .masterdeal:
            let secret = hook.secret("secret")
            let previous = hook.secret("previous_secret", required: false)
            let tolerance = hook.duration("tolerance", required: false) ?? .seconds(300)
            guard let secret else { return nil }
            return .hmac(secrets: [secret] + (previous.map { [$0] } ?? []), tolerance: tolerance)
        case nil:
            return nil
        }
    }

    private func readPoll(_ doc: YAMLMappingReader) -> ConnectorConfig.Poll? {
        guard let poll = doc.mapping("poll", required: false) else { return ConnectorConfig.Poll() }
        defer { poll.finish() }
        var result = ConnectorConfig.Poll()
        if let enabled = poll.bool("enabled", required: false) { result.enabled = enabled }
        if let interval = poll.duration("interval", required: false) {
            if interval < .seconds(1), let node = poll.node("interval") {
                sink.report(node.location, "poll.interval: must be at least 1s")
            }
            result.interval = interval
        }
        if let overlap = poll.duration("overlap", required: false) { result.overlap = overlap }
        if let node = poll.node("start"), !node.isNull, !node.isUnresolved {
            if case .scalar(let text, _) = node.content, let start = ConnectorConfig.Poll.Start.parse(text) {
                result.start = start
            } else {
                sink.report(
                    node.location,
                    "poll.start: expected now, beginning, a date such as 2026-01-01 (midnight UTC) or an instant such as "
                        + "2026-01-01T09:00:00+03:00, found \(node.quotedForMessage)")
            }
        }
        return result
    }

    private func readRateLimit(_ doc: YAMLMappingReader, kind: ConnectorKind?) -> ConnectorConfig.RateLimit? {
        let defaults = ConnectorConfig.RateLimit.defaults(for: kind ?? .masterdeal)
        guard let limit = doc.mapping("rate_limit", required: false) else { return defaults }
        defer { limit.finish() }
        var result = defaults
        if let rps = limit.double("requests_per_second", required: false, minimum: 0.01) { result.requestsPerSecond = rps }
        if let burst = limit.int("burst", required: false, range: 1...10_000) { result.burst = burst }
        return result
    }

    private func readReconcile(_ doc: YAMLMappingReader, kind: ConnectorKind?) -> ConnectorConfig.Reconcile? {
        guard let node = doc.mapping("reconcile", required: false) else { return ConnectorConfig.Reconcile() }
        defer { node.finish() }
        if kind == .masterdeal {
            sink.report(node.location, "reconcile: set it on the CRM connectors (they compare themselves with MasterDeal)")
        }
        var result = ConnectorConfig.Reconcile()
        if let v = node.bool("enabled", required: false) { result.enabled = v }
        if let v = node.duration("grace", required: false) { result.grace = v }
        if let v = node.duration("recheck", required: false) { result.recheck = v }
        if let v = node.duration("recent_window", required: false) { result.recentWindow = v }
        if let v = node.duration("sweep_interval", required: false) { result.sweepInterval = v }
        if let v = node.double("budget_share", required: false, minimum: 0.01) {
            if v > 1, let n = node.node("budget_share") { sink.report(n.location, "reconcile.budget_share: a share between 0.01 and 1") }
            result.budgetShare = min(v, 1)
        }
        return result
    }

    private func readEvents(_ doc: YAMLMappingReader, kind: ConnectorKind?) -> ConnectorConfig.KafkaEvents? {
        guard let events = doc.mapping("events", required: false) else { return nil }
        defer { events.finish() }
        if let kind, kind != .masterdeal {
            sink.report(
                events.location, "events: only a masterdeal connector takes its events from Kafka (\(kind.rawValue) sends webhooks)")
        }
        guard let kafka = events.mapping("kafka") else { return nil }
        defer { kafka.finish() }
        let bus = readBus(kafka)
        let topic = kafka.string("topic")
        if let topic, !Self.isTopicName(topic), let node = kafka.node("topic") {
            sink.report(
                node.location, "events.kafka.topic: '\(topic)' is not a Kafka topic name (letters, digits, '.', '_', '-', at most 249)")
        }
        let group = kafka.string("group", required: false) ?? "dealsync"
        guard let bus, let topic, kind == .masterdeal else { return nil }
        return ConnectorConfig.KafkaEvents(bus: bus, topic: topic, group: group)
    }

    /// `writes: http` (the default), `writes: kafka` (the bus of `events.kafka`, topic `dealsync.crm-changes`), or
    /// `writes: {kafka: {topic, brokers, …}}`.
    private func readWrites(_ doc: YAMLMappingReader, kind: ConnectorKind?, events: ConnectorConfig.KafkaEvents?) -> ConnectorConfig.Writes?
    {
        guard let node = doc.node("writes"), !node.isNull else { return .http }
        if case .scalar(let text, _) = node.content, text == "http" { return .http }
        if kind != .masterdeal {
            sink.report(node.location, "writes: only a masterdeal connector can take its writes from Kafka")
            return nil
        }
        guard let (bus, topic) = readTopic(node, key: "writes", defaultTopic: ConnectorConfig.Writes.defaultTopic, shared: events?.bus)
        else {
            return nil
        }
        return .kafka(bus: bus, topic: topic)
    }

    /// `decisions: kafka` (the bus of `events.kafka` or `writes.kafka`, topic `dealsync.decisions`) or
    /// `decisions: {kafka: {topic, brokers, …}}`; absent, no feed. `ok` is false when it was given wrongly.
    private func readDecisions(
        _ doc: YAMLMappingReader, kind: ConnectorKind?, shared: ConnectorConfig.KafkaBus?
    ) -> (ok: Bool, feed: ConnectorConfig.DecisionFeed?) {
        guard let node = doc.node("decisions"), !node.isNull else { return (true, nil) }
        if kind != .masterdeal {
            sink.report(node.location, "decisions: only a masterdeal connector publishes the decision feed")
            return (false, nil)
        }
        guard let (bus, topic) = readTopic(node, key: "decisions", defaultTopic: ConnectorConfig.DecisionFeed.defaultTopic, shared: shared)
        else { return (false, nil) }
        return (true, .init(bus: bus, topic: topic))
    }

    /// `<key>: kafka` (the `shared` bus, `defaultTopic`) or `<key>: {kafka: {topic, brokers, …}}`.
    private func readTopic(
        _ node: YAMLValue, key: String, defaultTopic: String, shared: ConnectorConfig.KafkaBus?
    ) -> (bus: ConnectorConfig.KafkaBus, topic: String)? {
        if case .scalar(let text, _) = node.content {
            guard text == "kafka" else {
                let choices = key == "writes" ? "http or kafka" : "kafka"
                sink.report(node.location, "\(key): expected \(choices), found \(node.quotedForMessage)")
                return nil
            }
            guard let shared else {
                sink.report(node.location, "\(key): kafka needs the brokers: give events.kafka, or \(key): {kafka: {brokers: …, topic: …}}")
                return nil
            }
            return (shared, defaultTopic)
        }
        guard let mapping = YAMLMappingReader(node, path: key, sink: sink) else { return nil }
        defer { mapping.finish() }
        guard let kafka = mapping.mapping("kafka") else { return nil }
        defer { kafka.finish() }
        let topic = kafka.string("topic", required: false) ?? defaultTopic
        if !Self.isTopicName(topic), let node = kafka.node("topic") {
            sink.report(
                node.location, "\(key).kafka.topic: '\(topic)' is not a Kafka topic name (letters, digits, '.', '_', '-', at most 249)")
        }
        let bus: ConnectorConfig.KafkaBus?
        if kafka.node("brokers") != nil {
            bus = readBus(kafka)
        } else if let shared {
            bus = shared
        } else {
            sink.report(kafka.location, "\(key).kafka: missing required key 'brokers' (or give events.kafka to share its brokers)")
            bus = nil
        }
        guard let bus else { return nil }
        return (bus, topic)
    }

    /// `brokers` (a list, or one comma-separated string), `tls`, `sasl` and `client_properties`.
    private func readBus(_ kafka: YAMLMappingReader) -> ConnectorConfig.KafkaBus? {
        var brokers: [String] = []
        if let node = kafka.requiredNode("brokers") {
            var texts: [(String, SourceLocation)] = []
            switch node.content {
            case .sequence(let items):
                for item in items {
                    if let text = YAMLScalar.string(item, path: kafka.keyPath("brokers"), sink: sink) {
                        texts.append((text, item.location))
                    }
                }
            default:
                if let text = YAMLScalar.string(node, path: kafka.keyPath("brokers"), sink: sink) {
                    texts = text.split(separator: ",").map { (String($0).trimmingCharacters(in: .whitespaces), node.location) }
                }
            }
            for (text, location) in texts {
                if Self.isBrokerAddress(text) {
                    brokers.append(text)
                } else {
                    sink.report(location, "\(kafka.keyPath("brokers")): '\(text)' is not host:port")
                }
            }
            if texts.isEmpty { sink.report(node.location, "\(kafka.keyPath("brokers")): give at least one host:port") }
        }
        let tls = kafka.bool("tls", required: false) ?? false
        var sasl: ConnectorConfig.KafkaBus.SASL?
        if let node = kafka.mapping("sasl", required: false) {
            defer { node.finish() }
            let mechanism = node.choice("mechanism", ConnectorConfig.KafkaBus.SASL.Mechanism.self)
            let username = node.string("username")
            let password = node.secret("password")
            if let mechanism, let username, let password { sasl = .init(mechanism: mechanism, username: username, password: password) }
        }
        var properties: [String: String] = [:]
        if let node = kafka.mapping("client_properties", required: false) {
            for (name, location) in node.keys {
                // Security and addressing have keys of their own, so a secret never sits in client_properties.
                if Self.reservedClientProperties.contains(where: { name == $0 || name.hasPrefix($0 + ".") }) {
                    sink.report(location, "\(node.keyPath(name)): set through brokers, tls and sasl instead")
                    _ = node.node(name)
                    continue
                }
                if let value = node.string(name) { properties[name] = value }
            }
            node.finish()
        }
        guard !brokers.isEmpty else { return nil }
        return ConnectorConfig.KafkaBus(brokers: brokers, tls: tls, sasl: sasl, properties: properties)
    }

    static let reservedClientProperties = [
        "bootstrap.servers", "metadata.broker.list", "security.protocol", "sasl", "ssl.key.password",
        "group.id", "enable.auto.commit", "enable.auto.offset.store",
    ]

    static func isTopicName(_ name: String) -> Bool {
        (1...249).contains(name.count) && name != "." && name != ".."
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) }
    }

    static func isBrokerAddress(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            return false
        }
        let host = text[..<colon]
        return !host.isEmpty && !host.contains(where: { $0 == "/" || $0 == " " })
    }

    private func readDelivery(_ doc: YAMLMappingReader, kind: ConnectorKind?, toKafka: Bool = false) -> ConnectorConfig.Delivery? {
        var defaults = ConnectorConfig.Delivery.defaults(for: kind ?? .masterdeal)
        // One publish carries a whole batch in one round trip: writes to Kafka go 200 at a time unless told otherwise.
        if toKafka { defaults.batchSize = 200 }
        guard let delivery = doc.mapping("delivery", required: false) else { return defaults }
        defer { delivery.finish() }
        var result = defaults
        let maxBatch = toKafka ? 1000 : kind == .amocrm ? 250 : 50
        if let v = delivery.int("batch_size", required: false, range: 1...maxBatch) { result.batchSize = v }
        if let v = delivery.int("max_attempts", required: false, range: 1...1000) { result.maxAttempts = v }
        if let v = delivery.duration("max_age", required: false) { result.maxAge = v }
        if let v = delivery.duration("backoff_base", required: false) { result.backoffBase = v }
        if let v = delivery.duration("backoff_cap", required: false) { result.backoffCap = v }
        if let v = delivery.int("breaker_threshold", required: false, range: 1...1000) { result.breakerThreshold = v }
        if let v = delivery.duration("breaker_cooldown", required: false) { result.breakerCooldown = v }
        if let v = delivery.duration("request_timeout", required: false) { result.requestTimeout = v }
        if result.backoffCap < result.backoffBase, let node = delivery.node("backoff_cap") {
            sink.report(node.location, "delivery.backoff_cap: must not be below backoff_base")
        }
        return result
    }
}
