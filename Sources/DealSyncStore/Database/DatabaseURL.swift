import DealSyncCore
import Foundation

/// Where the database is: `postgres://user:password@host:port/database[?sslmode=disable|prefer|require]`.
///
/// The password is a ``Secret``; ``description`` never shows it.
public struct DatabaseURL: Sendable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var host: String
    public var port: Int
    public var user: String
    public var password: Secret?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, user: String, password: Secret? = nil, database: String, tls: TLSMode = .disable) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
    }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Parses a `postgres://` or `postgresql://` URL.
    public init(parsing text: String) throws(ParseError) {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else {
            throw ParseError(description: "database URL must look like postgres://user:password@host:port/database")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ParseError(description: "database URL has no host")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw ParseError(description: "database URL names no database") }
        var tls = TLSMode.disable
        if let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value {
            guard let parsed = TLSMode(rawValue: mode) else {
                throw ParseError(description: "sslmode must be disable, prefer or require")
            }
            tls = parsed
        }
        self.init(
            host: host, port: components.port ?? 5432,
            user: components.user.flatMap { $0.removingPercentEncoding } ?? "postgres",
            password: components.password.flatMap { $0.removingPercentEncoding }.map(Secret.init),
            database: database.removingPercentEncoding ?? database, tls: tls)
    }

    /// The URL with the password left out, for messages.
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// The full URL including the password, for handing to a child process's environment.
    public func revealedURLString() -> String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.host = host
        components.port = port
        components.user = user
        components.password = password?.reveal()
        components.path = "/" + database
        if tls != .disable { components.queryItems = [URLQueryItem(name: "sslmode", value: tls.rawValue)] }
        return components.string ?? description
    }

    /// The same server, another database.
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }
}
