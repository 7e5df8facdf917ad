import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import Foundation
import Logging
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// How a request that got no answer is classified, against real sockets on loopback: nobody listening, a server
/// that never answers, a server that hangs up. Retry decisions and dead letters depend on these classes.
@Suite(.serialized) struct HTTPTransportErrorTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func send(to port: Int, timeout: Duration = .seconds(5)) async -> TransportError? {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let result: TransportError?
        do {
            _ = try await HTTPTransport(client: client, logger: Self.logger).send(
                .POST, "http://127.0.0.1:\(port)/api/v4/leads", body: Data("{}".utf8), timeout: timeout)
            result = nil
        } catch {
            result = error
        }
        try? await client.shutdown()
        return result
    }

    /// The client tries to connect again until the deadline, then tells the last reason: refused, not "timed out".
    @Test(.timeLimit(.minutes(1)))
    func nobodyListeningIsARefusedConnection() async throws {
        let port = try Listener.freePort()
        let error = await send(to: port, timeout: .seconds(1))
        #expect(error?.description == TransportError.network("connection refused").description, "\(String(describing: error))")
        #expect(error?.errorClass == .network)
    }

    @Test(.timeLimit(.minutes(1)))
    func aServerThatNeverAnswersIsATimeout() async throws {
        let listener = try Listener(behaviour: .holdOpen)
        defer { listener.stop() }
        let error = await send(to: listener.port, timeout: .milliseconds(400))
        #expect(error?.description == TransportError.timeout.description, "\(String(describing: error))")
        #expect(error?.errorClass == .timeout)
        #expect(listener.accepted > 0, "the request reached the server")
    }

    @Test(.timeLimit(.minutes(1)))
    func aServerThatHangsUpIsAClosedConnection() async throws {
        let listener = try Listener(behaviour: .readThenClose)
        defer { listener.stop() }
        let error = await send(to: listener.port)
        #expect(error?.description == TransportError.network("connection closed by the server").description, "\(String(describing: error))")
        #expect(listener.accepted > 0, "the request reached the server")
    }
}

/// A TCP listener on loopback that accepts connections on a thread of its own and either keeps them open
/// without a word or reads the request and closes.
final class Listener: @unchecked Sendable {
    enum Behaviour { case holdOpen, readThenClose }

    let port: Int
    private let socket: Int32
    private let lock = NSLock()
    private var held: [Int32] = []
    private var count = 0
    private var stopped = false

    var accepted: Int { lock.withLock { count } }

    init(behaviour: Behaviour) throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw ListenerError()
        }
        socket = fd
        port = Self.port(of: fd)
        start(behaviour)
    }

    private func start(_ behaviour: Behaviour) {
        let fd = socket
        let thread = Thread {
            while true {
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { return }
                self.lock.withLock { self.count += 1 }
                switch behaviour {
                case .holdOpen:
                    self.lock.withLock { self.held.append(connection) }
                case .readThenClose:
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    _ = recv(connection, &buffer, buffer.count, 0)
                    close(connection)
                }
            }
        }
        thread.start()
    }

    func stop() {
        let connections = lock.withLock { () -> [Int32] in
            stopped = true
            return held
        }
        for connection in connections { close(connection) }
        shutdown(socket, Int32(SHUT_RDWR))
        close(socket)
    }

    static func port(of socket: Int32) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A port nothing listens on (bound, then released).
    static func freePort() throws -> Int {
        let listener = try Listener(behaviour: .holdOpen)
        let port = listener.port
        listener.stop()
        return port
    }

    struct ListenerError: Error {}
}
