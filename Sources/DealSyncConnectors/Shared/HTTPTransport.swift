import AsyncHTTPClient
import DealSyncCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// A response with its whole body read.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public init(status: Int, headers: [(String, String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }

    /// A short excerpt of the body for the dead-letter history, with secrets removed.
    public func excerpt(redacting secrets: [String] = []) -> String {
        let text = String(decoding: body.prefix(2000), as: UTF8.self)
        // An HTML error page (amoCRM's nginx) says what it is in its title.
        if let start = text.range(of: "<title>"), let end = text.range(of: "</title>", range: start.upperBound..<text.endIndex) {
            return "HTML page: " + text[start.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return Redaction.redact(String(text.prefix(400)), secrets: secrets)
    }
}

/// Why a request got no response.
public enum TransportError: Error, Sendable, CustomStringConvertible {
    case timeout
    case network(String)

    public var description: String {
        switch self {
        case .timeout: "timed out"
        case .network(let reason): "network error: \(reason)"
        }
    }

    public var errorClass: ErrorClass { self == .timeout ? .timeout : .network }

    public static func == (lhs: TransportError, rhs: TransportError) -> Bool { lhs.description == rhs.description }
}

/// Sends requests through AsyncHTTPClient with one deadline for head and body, and logs each one with its
/// lineage id — never with a token or a body.
public struct HTTPTransport: Sendable {
    let client: HTTPClient
    let logger: Logger
    /// Bodies larger than this are refused (a hostile or broken server).
    public var maxBody = 16 * 1024 * 1024

    public init(client: HTTPClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// How the connectors' HTTP client is configured (in `serve` and the CLI alike). Redirects are not followed:
    /// AsyncHTTPClient would follow a 302 with a GET and no body, so a moved Bitrix24 portal would get every
    /// `batch` and `crm.deal.list` without its parameters (and a token could follow a redirect to another host).
    /// A connector that expects a move follows it itself, with the same method and body.
    public static func clientConfiguration(connect: Duration = .seconds(5), read: Duration = .seconds(60)) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .init(connect), read: .init(read))
        return configuration
    }

    /// A process-wide client configured like `serve`'s (``clientConfiguration(connect:read:)``), for commands and
    /// tests that call a CRM once; it is never shut down.
    public static let sharedClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration())

    public func send(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: Data? = nil, timeout: Duration,
        lineage: UUID? = nil, secrets: [String] = []
    ) async throws(TransportError) -> HTTPResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: Array(body))) }
        let started = ContinuousClock.now
        let loggedURL = Redaction.redact(url, secrets: secrets)
        do {
            let prepared = request
            // The client's own deadline comes first, so its error says why (refused, reset, timed out); this one
            // only backs it up.
            let response = try await withDeadline(timeout + .milliseconds(250)) { [client, maxBody] in
                let request = prepared
                let response = try await client.execute(
                    request,
                    timeout: .nanoseconds(
                        Int64(timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)))
                let bytes = try await response.body.collect(upTo: maxBody)
                return HTTPResponse(
                    status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                    body: Data(bytes.readableBytesView))
            }
            logger.debug(
                "http request",
                metadata: [
                    "method": "\(method.rawValue)", "url": "\(loggedURL)", "status": "\(response.status)",
                    "ms": "\(Self.millis(started.duration(to: .now)))", "lineage_id": "\(lineage?.uuidString.lowercased() ?? "-")",
                ])
            return response
        } catch let error as TransportError {
            logger.info(
                "http request failed",
                metadata: [
                    "method": "\(method.rawValue)", "url": "\(loggedURL)", "error": "\(error)",
                    "lineage_id": "\(lineage?.uuidString.lowercased() ?? "-")",
                ])
            throw error
        } catch {
            let reason = Redaction.redact(Self.reason(error), secrets: secrets)
            logger.info(
                "http request failed",
                metadata: [
                    "method": "\(method.rawValue)", "url": "\(loggedURL)", "error": "\(reason)",
                    "lineage_id": "\(lineage?.uuidString.lowercased() ?? "-")",
                ])
            if Self.isTimeout(error) { throw .timeout }
            throw .network(reason)
        }
    }

    static func millis(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// Whether the client or NIO gave up waiting (told by the error's type, not its text).
    static func isTimeout(_ error: any Error) -> Bool {
        if let client = error as? HTTPClientError {
            return [.deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout].contains(client)
        }
        if let channel = error as? ChannelError, case .connectTimeout = channel { return true }
        return false
    }

    /// A short reason for the log and the dead-letter history.
    static func reason(_ error: any Error) -> String {
        if let client = error as? HTTPClientError, client == .remoteConnectionClosed { return "connection closed by the server" }
        if let io = error as? IOError, io.errnoCode == ECONNREFUSED { return "connection refused" }
        return String(String(describing: error).prefix(200))
    }

    private func withDeadline<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TransportError.timeout
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}

/// Removes secrets from text bound for logs, errors and the dead-letter history.
public enum Redaction {
    public static func redact(_ text: String, secrets: [String]) -> String {
        var result = text
        for secret in secrets where secret.count >= 4 {
            result = result.replacingOccurrences(of: secret, with: "<redacted>")
        }
        for marker in ["access_token", "refresh_token", "client_secret", "\"token\"", "auth="] {
            result = redactValue(after: marker, in: result)
        }
        if let range = result.range(of: "Bearer ") {
            let tail = result[range.upperBound...].prefix { !$0.isWhitespace && $0 != "\"" && $0 != "," }
            result = result.replacingOccurrences(of: "Bearer " + tail, with: "Bearer <redacted>")
        }
        return result
    }

    private static func redactValue(after marker: String, in text: String) -> String {
        var result = text
        var searchStart = result.startIndex
        while let range = result.range(of: marker, range: searchStart..<result.endIndex) {
            var index = range.upperBound
            while index < result.endIndex, [":", "=", " ", "\""].contains(result[index]) { index = result.index(after: index) }
            let valueEnd = result[index...].firstIndex { ["\"", "&", ",", "}", " ", "\n"].contains($0) } ?? result.endIndex
            if valueEnd > index {
                result.replaceSubrange(index..<valueEnd, with: "<redacted>")
            }
            searchStart = result.index(range.upperBound, offsetBy: 0)
            if searchStart >= result.endIndex { break }
            searchStart = result.index(after: searchStart)
        }
        return result
    }
}
