import DealSyncCore

/// Which elements of a batch write amoCRM refused with a 400, from either of its two shapes:
///
/// - `{"validation-errors": [{"request_id": "3", "errors": [...]}], "detail": "Request validation failed"}` — type and
///   choice errors, keyed by the `request_id` each element was sent with;
/// - `{"errors": {"<lead id>": "<message>"}, "detail": "Invalid request body"}` — rule violations (a loss reason on
///   a lead that is not lost), keyed by the lead's id and carrying no `validation-errors` at all.
///
/// Either way nothing of the batch was written; the elements named fail for good and the others are sent again.
struct AmoRejection: Sendable, Equatable {
    var requestIDs: Set<String>
    /// Lead id → amoCRM's message.
    var leadErrors: [String: String]

    init(_ response: HTTPResponse) {
        let json = JSONValue.parse(response.body)
        let groups = json?["validation-errors"]?.array ?? []
        requestIDs = Set(groups.compactMap { $0["request_id"]?.text })
        var errors: [String: String] = [:]
        if let object = json?["errors"]?.object {
            for (leadID, message) in object { errors[leadID] = message.text ?? message.string ?? "" }
        }
        leadErrors = errors
    }

    /// Whether the answer names the element sent with `requestID` for the lead `leadID`.
    func names(requestID: String, leadID: String?) -> Bool {
        requestIDs.contains(requestID) || leadID.map { leadErrors[$0] != nil } ?? false
    }

    /// amoCRM's message about a lead, when it gave one.
    func message(forLead leadID: String?) -> String? { leadID.flatMap { leadErrors[$0] } }
}
