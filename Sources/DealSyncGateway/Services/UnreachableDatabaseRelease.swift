import DealSyncStore
import Logging
import ServiceLifecycle

/// When the group starts shutting down and the database is unreachable, closes its connection pool, so services
/// that are waiting for a connection fail at once and stop, instead of waiting a minute for a database that is not
/// there. Listed last, so the group tells it first.
final class UnreachableDatabaseRelease: Service {
    let database: Database

    init(database: Database) { self.database = database }

    func run() async {
        try? await gracefulShutdown()
        _ = await database.releaseIfUnreachable()
    }
}
