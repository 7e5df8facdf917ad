import Foundation

extension MasterDealSimulator {
    /// A finished response, kept so a retried write can be answered without a second effect.
    struct StoredResponse: Sendable, Equatable {
        var status: Int
        /// Header name → value (Content-Type, ETag, Location).
        var headers: [String: String]
        var body: Data
    }

    /// Remembers successful writes per (client, `Idempotency-Key`) and decides what a repeated key gets.
    ///
    /// A key matches when method, path and body are the same; bodies are compared as parsed JSON, so member
    /// order and whitespace do not matter. Only 2xx answers are stored: a write that failed (412, 422, …)
    /// does not use up its key. Pure: the caller passes the time.
    struct IdempotencyStore: Sendable {
        struct Fingerprint: Sendable, Equatable {
            var method: String
            var path: String
            var body: Body

            enum Body: Sendable, Equatable {
                case json(JSONValue)
                case raw(Data)
            }

            init(method: String, path: String, body: Data) {
                self.method = method
                self.path = path
                self.body = (try? JSONValue.parse(body)).map(Body.json) ?? .raw(body)
            }
        }

        enum Decision: Sendable, Equatable {
            /// Not seen (or expired): run the write.
            case proceed
            /// Seen with the same request: answer the stored response again.
            case replay(StoredResponse)
            /// Seen with a different request: 422 `idempotency-key-reuse`.
            case reuse
        }

        private struct Key: Hashable {
            var client: String
            var key: String
        }

        private struct Record {
            var fingerprint: Fingerprint
            var response: StoredResponse
            var storedAt: Int64
        }

        private var records: [Key: Record] = [:]
        private var writesSinceSweep = 0
        let retentionMillis: Int64

        init(retention: Duration) {
            let (seconds, attoseconds) = retention.components
            retentionMillis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        }

        var count: Int { records.count }

        mutating func decide(client: String, key: String, fingerprint: Fingerprint, now: Int64) -> Decision {
            let id = Key(client: client, key: key)
            guard let record = records[id] else { return .proceed }
            if now - record.storedAt >= retentionMillis {
                records.removeValue(forKey: id)
                return .proceed
            }
            return record.fingerprint == fingerprint ? .replay(record.response) : .reuse
        }

        mutating func remember(
            client: String, key: String, fingerprint: Fingerprint, response: StoredResponse,
            now: Int64
        ) {
            guard (200..<300).contains(response.status) else { return }
            records[Key(client: client, key: key)] = Record(fingerprint: fingerprint, response: response, storedAt: now)
            writesSinceSweep += 1
            if writesSinceSweep >= 1024 {
                writesSinceSweep = 0
                records = records.filter { now - $0.value.storedAt < retentionMillis }
            }
        }
    }
}
