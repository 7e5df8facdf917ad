/// A value that must never be printed: tokens, webhook secrets, OAuth credentials.
///
/// Its `description` is always `<redacted>`; code that needs the value asks for ``reveal()`` explicitly.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The secret itself, for the one place that sends it (an HTTP header, a comparison).
    public func reveal() -> String { value }

    public var isEmpty: Bool { value.isEmpty }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
