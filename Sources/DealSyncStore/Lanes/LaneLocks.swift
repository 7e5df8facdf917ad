import Logging
import PostgresNIO

/// The advisory locks that keep each connector lane in one process, and what `pg_locks` says about who holds them.
///
/// A lane host (a `dealsync serve` process that runs lanes) keeps one connection for all of them: on it, a shared
/// lock that marks the process as a lane host (named by its worker through `application_name`) and one session
/// lock per lane it runs. When the process dies its session ends and every lock with it, so the others see at
/// once that its lanes are free. The lane lock itself is the guard that no lane runs in two processes at once.
public struct LaneLocks: Sendable {
    /// The advisory-lock namespace of lane hosts; the second key is the hash of the worker's name.
    static let hostNamespace: Int32 = 0x4453_4C48
    /// `application_name` of a lane host's lock connection: this, then the worker's name.
    static let applicationPrefix = "dealsync lanes "

    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Who holds the lanes of this database now, as one lane host sees it.
    public struct Sighting: Sendable, Equatable {
        /// This connection's backend.
        public var ownPID: Int32
        /// Lane host backends → their worker names (as far as `application_name` keeps them).
        public var hosts: [Int32: String]
        /// Held lanes → the backend holding each.
        public var holders: [String: Int32]

        /// Lanes held by backends other than this one.
        public var heldElsewhere: Set<String> { Set(holders.filter { $0.value != ownPID }.keys) }

        /// How many of `lanes` each other lane host holds, one entry per other host.
        public var otherLoads: [Int] {
            hosts.keys.filter { $0 != ownPID }.sorted().map { pid in holders.values.count { $0 == pid } }
        }
    }

    // MARK: On a lane host's own connection

    /// Marks `connection` as the lane-host connection of `worker`.
    public static func register(worker: String, on connection: PostgresConnection, logger: Logger) async throws {
        let name = String(decoding: (applicationPrefix + worker).utf8.prefix(63), as: UTF8.self)
        try await connection.run("SELECT set_config('application_name', \(name), false)", logger: logger)
        // The server drops this session, and with it every lane lock, within about 25 s of losing its process (a
        // machine gone or cut off, no FIN sent), instead of after the operating system's default of two hours, so
        // the others take its lanes. (Over TCP; a Unix socket notices at once.)
        try await connection.run(
            """
            SELECT set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false),
                set_config('tcp_keepalives_count', '3', false)
            """, logger: logger)
        try await connection.run("SELECT pg_advisory_lock_shared(\(hostNamespace), hashtext(\(worker)))", logger: logger)
    }

    /// Who holds which of `lanes` and which lane hosts are present, seen from `connection`.
    public static func sight(lanes: [String], on connection: PostgresConnection, logger: Logger) async throws -> Sighting {
        let rows = try await connection.query(sightQuery(lanes), logger: logger)
        var sighting = Sighting(ownPID: 0, hosts: [:], holders: [:])
        for try await (kind, pid, text) in rows.decode((String, Int32, String).self) {
            switch kind {
            case "self": sighting.ownPID = pid
            case "host": sighting.hosts[pid] = text.hasPrefix(applicationPrefix) ? String(text.dropFirst(applicationPrefix.count)) : text
            default: sighting.holders[text] = pid
            }
        }
        return sighting
    }

    /// Tries to lock `lane` for this session; `false` when another session holds it.
    public static func tryLock(_ lane: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("SELECT pg_try_advisory_lock(hashtextextended(\(key(lane)), 11))", logger: logger)
        for try await got in rows.decode(Bool.self) { return got }
        return false
    }

    /// Unlocks `lane` (held by this session).
    public static func unlock(_ lane: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run("SELECT pg_advisory_unlock(hashtextextended(\(key(lane)), 11))", logger: logger)
    }

    /// Lets go of every lock of this session: the lanes and the host mark, before the connection goes back to the pool.
    public static func unlockAll(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run("SELECT pg_advisory_unlock_all()", logger: logger)
        try await connection.run("SELECT set_config('application_name', '', false)", logger: logger)
    }

    // MARK: From anywhere

    /// Which worker runs each of `lanes` now (absent: nobody; `""`: a process that is not a lane host, such as an
    /// older version).
    public func runners(of lanes: [String]) async throws -> [String: String] {
        try await database.client.withConnection { connection in
            let sighting = try await Self.sight(lanes: lanes, on: connection, logger: logger)
            return sighting.holders.mapValues { sighting.hosts[$0] ?? "" }
        }
    }

    /// The text whose 64-bit hash is a lane's advisory key: the key lanes had when each held a connection of its
    /// own, so a process of that version and a newer one still exclude each other during a rolling upgrade.
    static func key(_ lane: String) -> String { "lane:" + lane }

    private static func sightQuery(_ lanes: [String]) -> PostgresQuery {
        """
        WITH lanes AS (SELECT name, hashtextextended('lane:' || name, 11) AS k FROM unnest(\(lanes)::text[]) AS name),
        advisory AS MATERIALIZED (
            SELECT pid, classid::bigint AS high, objid::bigint AS low, objsubid FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())),
        hosts AS (SELECT DISTINCT pid FROM advisory WHERE objsubid = 2 AND high = \(hostNamespace))
        SELECT 'self', pg_backend_pid(), ''
        UNION ALL
        SELECT 'host', h.pid, coalesce(s.application_name, '') FROM hosts h LEFT JOIN pg_stat_activity s ON s.pid = h.pid
        UNION ALL
        SELECT 'lane', a.pid, l.name FROM advisory a
        JOIN lanes l ON a.objsubid = 1 AND a.high = ((l.k >> 32) & 4294967295) AND a.low = (l.k & 4294967295)
        """
    }
}
