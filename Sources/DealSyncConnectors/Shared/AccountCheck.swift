import DealSyncCore

/// Where a mapping does not fit the CRM account it is meant for: a stage, field, list value or user the
/// account does not have. Found by reading the account's reference data (`dealsync validate --live`), and
/// reported like any configuration problem, as `file:line:column: message`.
public typealias AccountProblem = Diagnostic

/// What an account check read and found.
public struct AccountReport: Sendable, Equatable {
    /// What was checked, for the reader: "pipeline 7001000: 7 stages, 2 custom fields, 2 owners".
    public var checked: String
    public var problems: [AccountProblem]

    public init(checked: String, problems: [AccountProblem]) {
        self.checked = checked
        self.problems = problems
    }
}

/// A CRM connector that can check its mapping against the live account. Reads only: nothing is written.
public protocol AccountChecking: Sendable {
    func checkAccount() async throws -> AccountReport
}

extension Mapping {
    /// Where a top-level key of the mapping file is, or the file itself.
    func location(of key: String) -> SourceLocation {
        locations[key] ?? SourceLocation(file: file, line: 1, column: 1)
    }
}
