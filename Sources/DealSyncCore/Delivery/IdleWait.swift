/// How long a lane or relay that found nothing to claim sleeps before it looks again. A hint (`NOTIFY` of a new
/// row) wakes it earlier; this bounds what a lost hint costs and catches rows that become due with time
/// (a retry's backoff) without looking every second when nothing waits.
public enum IdleWait {
    /// - Parameters:
    ///   - nextDue: how long until the earliest waiting row is due; zero or less when one is due already but
    ///     could not be claimed (another process has it, or it waits behind a write in flight); `nil` when none waits.
    ///   - longest: the longest sleep (what a lost hint may cost).
    ///   - blocked: the sleep while due rows wait behind others.
    public static func duration(nextDue: Duration?, longest: Duration, blocked: Duration = .seconds(1)) -> Duration {
        guard let nextDue else { return longest }
        if nextDue <= .zero { return min(blocked, longest) }
        return min(nextDue, longest)
    }
}
