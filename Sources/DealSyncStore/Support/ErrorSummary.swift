import PostgresNIO

/// An error in one line for a log: for PostgreSQL's, found inside a transaction's wrapper, its SQLSTATE, its message
/// and, when PostgresNIO attaches it (a statement refused before it runs, not one cancelled while its rows stream),
/// the start of the statement; for any other, its description. A relay's or lane's failure used to be logged as the
/// wrapper's description cut at 200 characters, which held neither the message nor the statement.
public enum ErrorSummary {
    public static func line(_ error: any Error, limit: Int = 400) -> String {
        let text: String
        switch error {
        case let transaction as TransactionError:
            text = transaction.underlying.map { line($0, limit: limit) } ?? transaction.description
        case let transaction as PostgresTransactionError:
            let inner = transaction.beginError ?? transaction.closureError ?? transaction.commitError
            text = inner.map { line($0, limit: limit) } ?? String(describing: error)
        case let psql as PSQLError:
            var parts: [String] = []
            if let state = psql.serverInfo?[.sqlState] { parts.append("SQLSTATE \(state)") }
            parts.append(psql.serverInfo?[.message] ?? "\(psql.code)")
            if let sql = psql.query?.sql {
                let statement = sql.split(whereSeparator: \.isWhitespace).joined(separator: " ")
                parts.append("in: \(statement.prefix(160))")
            }
            text = parts.joined(separator: "; ")
        default:
            text = String(describing: error)
        }
        return String(text.prefix(limit))
    }
}
