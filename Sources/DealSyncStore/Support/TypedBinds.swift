import PostgresNIO

extension PostgresQuery.StringInterpolation {
    /// A bind followed by a cast to its own type (`$3::BIGINT[]`): a statement made of such binds tells PostgreSQL
    /// every parameter's type in its text, so it can be prepared once (``DecisionRecords/Save``) without listing them.
    mutating func appendInterpolation<Value: PostgresNonThrowingEncodable>(typed value: Value) {
        appendInterpolation(value)
        appendLiteral("::" + Self.sqlName(Value.psqlType))
    }

    mutating func appendInterpolation<Value: PostgresNonThrowingEncodable>(typed value: Value?) {
        appendInterpolation(value)
        appendLiteral("::" + Self.sqlName(Value.psqlType))
    }

    private static func sqlName(_ type: PostgresDataType) -> String {
        guard let name = type.knownSQLName else { preconditionFailure("no SQL name for the type \(type)") }
        return name
    }
}
