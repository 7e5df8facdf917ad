import Crypto
import Foundation

/// Deterministic idempotency keys for outbox rows.
///
/// The key is a hash of the target, the record, the values written and the observation that caused the
/// write: processing the same observation again yields the same key, so the row is not inserted twice and a
/// target that honours keys (MasterDeal) applies it once.
public enum IdempotencyKey {
    public static func make(target: String, record: String, operation: String, values: [String: FieldValue], cause: String) -> String {
        var hasher = SHA256()
        for part in [target, record, operation, cause] {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        // The values as `JSONEncoder` with sorted keys wrote them (slashes escaped): keys made before stay the same.
        hasher.update(data: Data(JSONText.text(.object(values.mapValues(\.json)), escapingSlashes: true).utf8))
        let digest = hasher.finalize()
        return "ds1-" + Hex.lower(digest.prefix(16))
    }
}
