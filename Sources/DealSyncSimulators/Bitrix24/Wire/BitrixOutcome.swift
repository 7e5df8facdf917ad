/// What a method produced: its `result`, and for list methods `total` and `next`.
struct BitrixOutcome: Sendable {
    var result: BitrixJSON
    var total: Int?
    var next: Int?
    /// Rows returned, rows counted and rows written, for the simulated execution time.
    var rows = 0
    var countedRows = 0
    var writes = 0
    /// The execution time charged for it (set once it ran).
    var seconds: Double = 0

    init(_ result: BitrixJSON, total: Int? = nil, next: Int? = nil, rows: Int = 0, countedRows: Int = 0, writes: Int = 0) {
        self.result = result
        self.total = total
        self.next = next
        self.rows = rows
        self.countedRows = countedRows
        self.writes = writes
    }
}
