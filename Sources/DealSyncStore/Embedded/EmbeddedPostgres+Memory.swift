import Foundation

extension EmbeddedPostgres {
    /// The shared buffers of the durable default, in megabytes: an eighth of the memory this machine (or its
    /// control group) gives, no less than PostgreSQL's own default of 128 MB and no more than 512 MB.
    ///
    /// The buffers are where PostgreSQL keeps the pages it works on. A tenant's links and their field states take
    /// about 2 KB each with their indexes, so after an import of 100,000 leads the pages a change touches (its link,
    /// its field state, the queues' recent pages) no longer fit in 64 MB and are copied in from the kernel's cache
    /// over and over. 512 MB holds about a quarter of a million links; beyond that, or for more tenants than one
    /// machine serves, an external PostgreSQL sized for its work is the way (README, "Moving to an external
    /// PostgreSQL"). The throwaway clusters of the demo and the tests keep 64 MB: many run side by side.
    public static func durableSharedBuffersMB(memory: UInt64 = usableMemory) -> Int {
        let eighth = Int(min(memory / 8 / (1 << 20), UInt64(Int.max)))
        return min(max(eighth, 128), 512)
    }

    /// The memory this process may use: the machine's, or its control group's limit when that is lower (a
    /// container's limit, cgroup v2 `memory.max` or v1 `memory.limit_in_bytes`).
    public static var usableMemory: UInt64 {
        let physical = ProcessInfo.processInfo.physicalMemory
        let limits = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"].compactMap { path in
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        return ([physical] + limits).min() ?? physical
    }
}
