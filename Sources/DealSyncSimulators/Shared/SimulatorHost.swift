import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// Runs a simulator's router on loopback with its background services, for tests, the demo and the CLI.
public enum SimulatorHost {
    /// Starts `router` on `host:port` (0 picks a free port), runs `body` with the base URL, then shuts down.
    public static func withRunning<T: Sendable, Routes: HTTPResponderBuilder>(
        router: Routes,
        services: [any Service] = [],
        host: String = "127.0.0.1",
        port: Int = 0,
        logger: Logger = Logger(label: "simulator", factory: { _ in SwiftLogNoOpLogHandler() }),
        _ body: @Sendable (_ baseURL: String) async throws -> T
    ) async throws -> T where Routes.Responder.Context == BasicRequestContext {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "simulator"),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? port)
                continuation.finish()
            },
            logger: logger
        )
        let group = ServiceGroup(services: services + [app], gracefulShutdownSignals: [], logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let boundPort = await iterator.next() else {
                await group.triggerGracefulShutdown()
                throw SimulatorError("the simulator did not start")
            }
            do {
                let result = try await body("http://\(host):\(boundPort)")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    /// Runs until SIGTERM/SIGINT, printing the URL once bound (the `dealsync simulate` commands).
    public static func runForever<Routes: HTTPResponderBuilder>(
        router: Routes, services: [any Service], host: String, port: Int, logger: Logger,
        onRunning: @escaping @Sendable (String) -> Void
    ) async throws where Routes.Responder.Context == BasicRequestContext {
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "simulator"),
            onServerRunning: { channel in onRunning("http://\(host):\(channel.localAddress?.port ?? port)") },
            logger: logger
        )
        let group = ServiceGroup(services: services + [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// An error of the simulators themselves (not one they simulate).
public struct SimulatorError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
