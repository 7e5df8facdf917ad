import DealSyncCore

/// A simulator set up to stand in for one configured connector (`dealsync simulate amocrm|bitrix24 --connector ID`):
/// the account shaped by the connector's mapping, accepting the connector's own credentials, sending its events to
/// the gateway when given one, and able to say what it accepts.
///
/// - Important: ``notes(listeningOn:)`` never shows a secret from the connector's configuration (they come from the
///   environment); it shows only values the simulator generated itself.
public struct ConnectorStandIn<Configuration: Sendable>: Sendable {
    public var configuration: Configuration
    let connector: String
    let baseURL: String
    /// What the simulator accepts and sends, as lines for people.
    let accepts: [String]
    /// The token endpoint's path on the simulator, when the connector refreshes OAuth tokens at its `token_url`.
    let tokenPath: String?
    let configuredTokenURL: String?

    /// What it accepts and where the connector must point, once it listens on `url`.
    public func notes(listeningOn url: String) -> [String] {
        var lines = accepts
        if baseURL != url {
            lines.append("point \(connector) here: its base_url is \(baseURL); serve must see base_url \(url)")
        }
        if let tokenPath, configuredTokenURL != url + tokenPath {
            lines.append("its OAuth token_url must be \(url)\(tokenPath) (it is \(configuredTokenURL ?? "the real service's"))")
        }
        return lines
    }
}

/// Why a connector's configuration cannot be simulated.
public struct StandInError: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}

enum StandInSecrets {
    /// A random secret the simulator makes up (and may show, being its own).
    static func generate(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<16).map { _ in String(UInt8.random(in: 0...255, using: &generator), radix: 16) }
            .map { $0.count == 1 ? "0" + $0 : $0 }.joined()
        return prefix + hex
    }

    /// The host's first label (`touragency` of `https://touragency.amocrm.ru`), when the URL has a name.
    static func firstLabel(of url: String) -> String? {
        let host = url.split(separator: "/").dropFirst().first.map { $0.split(separator: ":")[0] } ?? ""
        guard let label = host.split(separator: ".").first, host.contains("."), !host.allSatisfy({ $0.isNumber || $0 == "." }) else {
            return nil
        }
        return String(label)
    }

    /// The host of a URL (`fitcoach.bitrix24.ru`), when it has a name.
    static func host(of url: String) -> String? {
        guard let host = url.split(separator: "/").dropFirst().first.map({ String($0.split(separator: ":")[0]) }),
            host.contains("."), !host.allSatisfy({ $0.isNumber || $0 == "." })
        else { return nil }
        return host
    }
}
