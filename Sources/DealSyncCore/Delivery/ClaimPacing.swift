/// When a lane claims its next batch while batches of it are under way. A lane with nothing under way claims at
/// once (a change waits for nobody), and so does one working through a backlog (its last claim was full: rows
/// surely wait). Otherwise the rows announced since trickle in (MasterDeal's events for the deals a relay is
/// creating, amoCRM's echoes of its writes): they gather for `gather` first, so that a transaction, which costs a
/// dozen statements whatever its size, decides many of them. In a 5,000-row drain this took MasterDeal's lane from
/// about 11 to 20 rows a transaction and PostgreSQL's CPU per change down a fifth.
public enum ClaimPacing {
    public static func delay(batchesUnderWay: Int, lastClaimFull: Bool, gather: Duration) -> Duration {
        batchesUnderWay > 0 && !lastClaimFull ? max(.zero, gather) : .zero
    }
}
