/// A row's status checked in a statement that names its rows by id (`id = ANY(…)`, a link's writes).
///
/// Compared as such (`status = 'pending'`), the status lets PostgreSQL prove that a partial index of that status
/// (`outbox_open`, `inbox_lane`, `dead_letters_open`, …) holds the rows, and with statistics gathered while little was
/// open it takes that index for selective and reads all of it for a bitmap of a few ids: every open write of every
/// target, 6,961 entries for a relay round's 50 writes in a quick benchmark's drain (2.7 ms a round, 18% of
/// PostgreSQL's time at 500 changes a second). Inside a `CASE` the comparison proves nothing about any index, so only
/// the key the statement names serves it (``ClaimPlanTests``).
enum StatusByID {
    /// `column` is `status`, as an SQL condition for `\(unescaped:)`. Both are the caller's literals, never input.
    static func `is`(_ status: StaticString, column: StaticString = "status") -> String {
        "CASE \(column) WHEN '\(status)' THEN true ELSE false END"
    }
}
