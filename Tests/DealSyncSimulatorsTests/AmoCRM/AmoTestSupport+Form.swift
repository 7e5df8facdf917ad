import DealSyncCore

/// Reading legacy webhook forms in tests.
extension PHPForm.Map {
    /// `leads[<action>]` entries in index order, each as a map.
    func amoLeads(_ action: String) -> [PHPForm.Map] {
        self["leads"]?[action]?.map?.indexed.compactMap(\.map) ?? []
    }

    func amoText(_ key: String) -> String? { self[key]?.string }
}
