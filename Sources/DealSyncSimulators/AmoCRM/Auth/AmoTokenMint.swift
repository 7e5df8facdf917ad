import Foundation

/// Makes tokens shaped like amoCRM's: a JWT access token (about 800 characters, RS256-sized signature)
/// and a long opaque `def50200…` refresh token, so storage that truncates tokens fails here too.
struct AmoTokenMint: Sendable {
    let clientID: String
    let accountID: Int
    let userID: Int
    let subdomain: String

    func mint(now: Int, ttl: Int) -> (access: String, refresh: String) {
        var generator = SystemRandomNumberGenerator()
        let jti = HexText.random(digits: 40, using: &generator)
        let header = #"{"typ":"JWT","alg":"RS256","jti":"\#(jti)"}"#
        let payload =
            #"{"aud":"\#(clientID)","jti":"\#(jti)","iat":\#(now),"nbf":\#(now),"exp":\#(now + ttl),"#
            + #""sub":"\#(userID)","grant_type":"","account_id":\#(accountID),"base_domain":"amocrm.ru","version":2,"#
            + #""scopes":["crm","files","files_delete","notifications","push_notifications"],"#
            + #""hash_uuid":"\#(UUID().uuidString.lowercased())","api_domain":"api-b.amocrm.ru"}"#
        let signature = Data((0..<256).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let access = [Data(header.utf8), Data(payload.utf8), signature].map(Self.base64URL).joined(separator: ".")
        let refresh = "def50200" + HexText.random(digits: 960, using: &generator)
        return (access, refresh)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
