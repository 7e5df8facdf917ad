import DealSyncConnectors
import Testing

struct ConstantTimeAndRedactionTests {
    @Test func constantTimeComparisonIsExact() {
        #expect(ConstantTime.equals("secret-token", "secret-token"))
        #expect(!ConstantTime.equals("secret-token", "secret-tokem"))
        #expect(!ConstantTime.equals("secret-token", "secret-token-longer"))
        #expect(!ConstantTime.equals("", "x"))
        #expect(ConstantTime.equals("", ""))
    }

    /// Lengths 256 apart, the longer one padded with NULs: a byte of the length difference is 0 for them.
    @Test func lengthsAFactorOf256ApartAreNotEqual() {
        #expect(!ConstantTime.equals("", String(repeating: "\u{0}", count: 256)))
        #expect(!ConstantTime.equals("token", "token" + String(repeating: "\u{0}", count: 512)))
        #expect(ConstantTime.equals("token" + String(repeating: "\u{0}", count: 256), "token" + String(repeating: "\u{0}", count: 256)))
    }

    @Test func secretsAndTokensAreRemovedFromText() {
        let text = #"{"access_token":"abc.def.ghi","refresh_token":"r-123","detail":"bad"} Authorization: Bearer eyJhbGciOi"#
        let redacted = Redaction.redact(text, secrets: ["hook-secret-42"])
        #expect(!redacted.contains("abc.def.ghi"))
        #expect(!redacted.contains("r-123"))
        #expect(!redacted.contains("eyJhbGciOi"))
        #expect(redacted.contains("\"detail\":\"bad\""))
        #expect(Redaction.redact("POST /webhooks/tour/hook-secret-42", secrets: ["hook-secret-42"]) == "POST /webhooks/tour/<redacted>")
    }
}
