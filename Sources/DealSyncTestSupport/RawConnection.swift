import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A bare TCP connection to a server on loopback, for what no HTTP client sends: a head without its body, a
/// body trickled a byte at a time, or nothing at all.
public final class RawConnection {
    private let socket: Int32

    /// Connects to `127.0.0.1:port`.
    public init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw ChildProgramError("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socket)
            throw ChildProgramError("connect to 127.0.0.1:\(port) failed")
        }
    }

    deinit { close(socket) }

    /// Sends `text`; `false` when the server has closed the connection.
    @discardableResult
    public func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    public enum Reading: Equatable {
        /// What arrived before the server closed the connection or `within` ran out.
        case data(String)
        /// The server closed the connection without sending anything more.
        case closed
        /// Nothing arrived within the wait.
        case silent
    }

    /// Waits up to `within` for the server to answer or close; returns what came first. It looks every 10 ms and
    /// sleeps in between, so it never holds a thread of the cooperative pool: the server under test (in the same
    /// process) needs those threads to answer.
    public func read(within: Duration) async -> Reading {
        let deadline = ContinuousClock.now + within
        var received: [UInt8] = []
        var quietSince: ContinuousClock.Instant?
        while ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else {
                // Once something arrived, 100 ms of quiet ends the answer.
                if !received.isEmpty {
                    let since = quietSince ?? ContinuousClock.now
                    quietSince = since
                    if since.duration(to: .now) >= .milliseconds(100) { break }
                }
                try? await Task.sleep(for: .milliseconds(10))
                continue
            }
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let n = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0, errno == EINTR || errno == EAGAIN { continue }
            if n <= 0 { return received.isEmpty ? .closed : .data(String(decoding: received, as: UTF8.self)) }
            received += buffer[..<n]
            quietSince = nil
        }
        return received.isEmpty ? .silent : .data(String(decoding: received, as: UTF8.self))
    }
}
