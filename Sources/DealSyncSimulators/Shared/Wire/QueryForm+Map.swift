extension QueryForm {
    /// A parsed value: a string, or a PHP array (``Map``).
    indirect enum Value: Sendable, Equatable {
        case string(String)
        case map(Map)

        var string: String? {
            if case .string(let text) = self { return text }
            return nil
        }

        var map: Map? {
            if case .map(let map) = self { return map }
            return nil
        }

        subscript(key: String) -> Value? { map?[key] }
    }

    /// A PHP array: keys in the order they were first set, string leaves or nested arrays.
    struct Map: Sendable, Equatable {
        private(set) var entries: [(key: String, value: Value)] = []

        init() {}

        /// A map built from bracket-named pairs, as if they had been parsed (`["fields[TITLE]": "x"]`).
        init(pairs: [(String, String)]) {
            self.init()
            for (name, value) in pairs {
                guard let path = QueryForm.path(name) else { continue }
                insert(value, at: path[...])
            }
        }

        subscript(key: String) -> Value? {
            get { entries.first { $0.key == key }?.value }
            set {
                if let index = entries.firstIndex(where: { $0.key == key }) {
                    if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
                } else if let newValue {
                    entries.append((key, newValue))
                }
            }
        }

        var keys: [String] { entries.map(\.key) }
        var isEmpty: Bool { entries.isEmpty }

        /// The values under integer keys, in key order (`[0]`, `[1]`, ...).
        var indexed: [Value] {
            entries.compactMap { entry in Int(entry.key).map { ($0, entry.value) } }.sorted { $0.0 < $1.0 }.map(\.1)
        }

        static func == (lhs: Map, rhs: Map) -> Bool {
            lhs.entries.count == rhs.entries.count
                && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        }

        /// The key `[]` appends under: one past the highest integer key, else 0.
        private var nextIndex: String {
            String((entries.compactMap { Int($0.key) }.max() ?? -1) + 1)
        }

        /// Sets `value` at `path` (`nil` segments append), replacing whatever stood in the way.
        mutating func insert(_ value: String, at path: ArraySlice<String?>) {
            guard let first = path.first else { return }
            let key = first ?? nextIndex
            guard path.count > 1 else {
                self[key] = .string(value)
                return
            }
            var child = self[key]?.map ?? Map()
            child.insert(value, at: path.dropFirst())
            self[key] = .map(child)
        }
    }
}
