import DealSyncCore
import Foundation

/// Why a connector cannot authenticate until a person re-authorises it.
public struct OAuthGrantLost: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { "OAuth grant lost: \(reason)" }
}

/// Keeps one connector's access token fresh with single-use refresh tokens.
///
/// Every refresh returns a new refresh token and invalidates the old one, so the new pair is committed to the
/// credential store before the new access token is used or the refresh token spent again: a crash after the
/// commit resumes with the new pair. Refreshes are serialised — callers that need a token while one is being
/// refreshed wait for that refresh instead of spending the same refresh token again — within the process by this
/// actor, and across the processes sharing the store (`serve`, a CLI command) by the store's refresh lock
/// (``CredentialStore/exclusively(connector:_:)``), under which the pair is read again; a 401 refreshes at most
/// once per token.
public actor OAuthSession {
    public typealias Refresher = @Sendable (_ refreshToken: Secret) async throws -> OAuthTokens

    let connector: String
    let store: any CredentialStore
    let initialRefreshToken: Secret?
    let refresher: Refresher
    /// Test hook: called with a step name; throwing there simulates a crash at that step.
    let checkpoint: (@Sendable (String) throws -> Void)?
    private var current: OAuthTokens?
    /// The refresh under way. The actor is re-entrant at every `await`, so without it concurrent callers would
    /// each send the same single-use refresh token, and all but the first would lose the grant.
    private var inFlight: Task<Secret, any Error>?

    public init(
        connector: String, store: any CredentialStore, initialRefreshToken: Secret?, refresher: @escaping Refresher,
        checkpoint: (@Sendable (String) throws -> Void)? = nil
    ) {
        self.connector = connector
        self.store = store
        self.initialRefreshToken = initialRefreshToken
        self.refresher = refresher
        self.checkpoint = checkpoint
    }

    /// A usable access token, refreshing first when none is stored or it has expired.
    public func accessToken() async throws -> Secret {
        let tokens = try await loaded()
        if let access = Self.usable(tokens) { return access }
        return try await refreshOnce(from: tokens)
    }

    /// The pair's access token, unless there is none or it expires within 30 s.
    static func usable(_ tokens: OAuthTokens) -> Secret? {
        guard let access = tokens.accessToken, !access.isEmpty else { return nil }
        if let expires = tokens.accessExpiresAt, expires <= Date().addingTimeInterval(30) { return nil }
        return access
    }

    /// The API refused `rejected`: refresh once, unless another caller already did.
    public func renew(after rejected: Secret) async throws -> Secret {
        let tokens = try await loaded(reload: true)
        if let access = tokens.accessToken, access != rejected { return access }
        return try await refreshOnce(from: tokens)
    }

    private func loaded(reload: Bool = false, from source: (any CredentialAccess)? = nil) async throws -> OAuthTokens {
        if !reload, let current { return current }
        let stored = try await (source ?? store).load(connector: connector)
        let tokens = stored ?? OAuthTokens(accessToken: nil, refreshToken: initialRefreshToken, accessExpiresAt: nil, generation: 0)
        // A refresh may have finished while the store was read: never step back to an older (spent) pair.
        if let current, current.generation > tokens.generation { return current }
        current = tokens
        return tokens
    }

    /// Joins the refresh under way, or starts one from `tokens` unless a newer pair arrived meanwhile.
    private func refreshOnce(from tokens: OAuthTokens) async throws -> Secret {
        if let inFlight { return try await inFlight.value }
        if let current, current.generation > tokens.generation, let access = current.accessToken { return access }
        // Not cancelled with the caller that started it: a refresh stopped halfway could lose the grant.
        let task = Task {
            defer { self.inFlight = nil }
            return try await self.store.exclusively(connector: self.connector) { access in
                try await self.refresh(from: tokens, access: access)
            }
        }
        inFlight = task
        return try await task.value
    }

    /// Refreshes from `seen` while holding the store's refresh lock, unless another process sharing the store
    /// stored a newer pair while this one waited for the lock.
    private func refresh(from seen: OAuthTokens, access: any CredentialAccess) async throws -> Secret {
        let tokens = try await loaded(reload: true, from: access)
        if tokens.generation > seen.generation, let token = Self.usable(tokens) { return token }
        guard let refreshToken = tokens.refreshToken, !refreshToken.isEmpty else {
            throw OAuthGrantLost(reason: "no refresh token is stored; authorise the integration again")
        }
        try checkpoint?("before-refresh")
        var fresh: OAuthTokens
        do {
            fresh = try await refresher(refreshToken)
        } catch let lost as OAuthGrantLost {
            // Spent by a process that refreshed without the lock (an older version sharing the store): its pair,
            // if it stored one, is the valid one. Only with no newer pair stored is the grant really lost.
            let newer = try await loaded(reload: true, from: access)
            guard newer.generation > tokens.generation, let token = newer.accessToken else { throw lost }
            return token
        }
        try checkpoint?("after-refresh")
        fresh.generation = tokens.generation + 1
        if fresh.refreshToken == nil { fresh.refreshToken = refreshToken }
        guard try await access.save(connector: connector, tokens: fresh) else {
            // Another process refreshed first; its pair is the valid one.
            let newer = try await loaded(reload: true, from: access)
            guard let token = newer.accessToken else { throw OAuthGrantLost(reason: "a concurrent refresh left no access token") }
            return token
        }
        try checkpoint?("after-commit")
        current = fresh
        guard let token = fresh.accessToken else { throw OAuthGrantLost(reason: "the token endpoint returned no access token") }
        return token
    }
}

/// Credentials kept in memory (tests, and connectors run without a database); sessions sharing one stand for
/// processes sharing a database.
public actor MemoryCredentialStore: CredentialStore {
    private var tokens: [String: OAuthTokens] = [:]
    /// Connectors whose refresh lock is held, and who waits for each.
    private var refreshing: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    public func load(connector: String) async throws -> OAuthTokens? { tokens[connector] }

    public func save(connector: String, tokens new: OAuthTokens) async throws -> Bool {
        if let existing = tokens[connector], existing.generation >= new.generation { return false }
        tokens[connector] = new
        return true
    }

    public func exclusively<T: Sendable>(
        connector: String, _ refresh: @Sendable (any CredentialAccess) async throws -> T
    ) async throws -> T {
        while refreshing.contains(connector) {
            await withCheckedContinuation { waiting[connector, default: []].append($0) }
        }
        refreshing.insert(connector)
        defer {
            refreshing.remove(connector)
            if let next = waiting[connector]?.first {
                waiting[connector]?.removeFirst()
                next.resume()
            }
        }
        return try await refresh(self)
    }

    /// How many wait for `connector`'s refresh lock.
    func waiters(of connector: String) -> Int { waiting[connector]?.count ?? 0 }
}
