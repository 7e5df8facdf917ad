/// JSON values in and out of the simulated portal: the amoCRM simulator's order-keeping value and strict parser,
/// reused rather than copied (batch commands run in key order, so object order must survive parsing).
///
/// - Important: ``AmoJSON`` and ``AmoJSONParser`` belong in `Shared/`; until they move there, this alias is the only
///   place the Bitrix24 simulator names them.
typealias BitrixJSON = AmoJSON

extension AmoJSON {
    /// A PHP array as `json_encode` writes it: a list when its keys are `0...n-1`, an object otherwise, and `[]`
    /// when empty (Bitrix24's empty `result_error`, `result_next`...).
    static func phpArray(_ members: [(String, AmoJSON)]) -> AmoJSON {
        if members.isEmpty { return .array([]) }
        if members.enumerated().allSatisfy({ $0.element.0 == String($0.offset) }) { return .array(members.map(\.1)) }
        return .object(members)
    }

    /// Parses JSON text; `nil` when it is not JSON.
    static func parse(_ text: String) -> AmoJSON? { try? AmoJSONParser.parse(text) }
}
