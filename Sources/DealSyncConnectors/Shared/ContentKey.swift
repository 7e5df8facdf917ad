import Crypto
import DealSyncCore
import Foundation

/// Inbox dedupe keys for records read from an API.
///
/// amoCRM and Bitrix24 stamp changes to the second, so two states of a record can share a timestamp: the key
/// carries a hash of the record too, and only the very same state is de-duplicated.
enum ContentKey {
    static func record(_ prefix: String, id: String, stamp: String, body: JSONValue) -> String {
        let digest = SHA256.hash(data: body.data())
        return "\(prefix):\(id):\(stamp):" + Hex.lower(digest.prefix(6))
    }
}
