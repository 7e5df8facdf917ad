import Crypto
import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

/// MasterDeal's event signature: `X-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
///
/// Two secrets are accepted while a rotation is under way; the timestamp must be within the tolerance.
public enum MasterDealSignature {
    public static func sign(body: Data, secret: String, timestamp: Int64) -> String {
        "t=\(timestamp),v1=\(hex(body: body, secret: secret, timestamp: timestamp))"
    }

    static func hex(body: Data, secret: String, timestamp: Int64) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return Hex.lower(mac)
    }

    public enum Verdict: Equatable, Sendable {
        case valid
        case missing
        case malformed
        case stale
        case invalid
    }

    public static func verify(header: String?, body: Data, secrets: [String], now: Date, tolerance: Duration) -> Verdict {
        let parsed: Header
        switch Header.parse(header, now: now, tolerance: tolerance) {
        case .success(let header): parsed = header
        case .failure(let verdict): return verdict.reason
        }
        for secret in secrets {
            let expected = hex(body: body, secret: secret, timestamp: parsed.timestamp)
            if parsed.signatures.contains(where: { ConstantTime.equals($0, expected) }) { return .valid }
        }
        return .invalid
    }

    /// What the header alone says, before the body is read: `.missing`, `.malformed` or `.stale`, or `.valid`
    /// when only the HMAC over the body remains to be checked.
    public static func checkHeader(_ header: String?, now: Date, tolerance: Duration) -> Verdict {
        switch Header.parse(header, now: now, tolerance: tolerance) {
        case .success: .valid
        case .failure(let verdict): verdict.reason
        }
    }

    struct Refusal: Error {
        var reason: Verdict
    }

    /// `t=<unix>,v1=<hex>[,v1=<hex>]`, checked for form and age.
    struct Header {
        var timestamp: Int64
        var signatures: [String]

        static func parse(_ header: String?, now: Date, tolerance: Duration) -> Result<Header, Refusal> {
            guard let header, !header.isEmpty else { return .failure(Refusal(reason: .missing)) }
            var timestamp: Int64?
            var signatures: [String] = []
            for part in header.split(separator: ",") {
                let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2 else { return .failure(Refusal(reason: .malformed)) }
                switch pair[0] {
                case "t": timestamp = MasterDealSignature.unixSeconds(pair[1])
                case "v1": signatures.append(pair[1].lowercased())
                default: continue
                }
            }
            guard let timestamp, !signatures.isEmpty else { return .failure(Refusal(reason: .malformed)) }
            // The header comes before any proof of origin: no `t`, however large, may trap.
            let (skew, overflow) = Int64(now.timeIntervalSince1970).subtractingReportingOverflow(timestamp)
            guard !overflow, skew.magnitude <= UInt64(max(0, tolerance.components.seconds)) else {
                return .failure(Refusal(reason: .stale))
            }
            return .success(Header(timestamp: timestamp, signatures: signatures))
        }
    }

    /// `t` as the contract writes it: unsigned decimal digits only (no sign, no spaces).
    static func unixSeconds(_ text: String) -> Int64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int64(text)
    }
}
