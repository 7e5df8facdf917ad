import Foundation

/// The `filter` of `crm.deal.list`: keys carry their operator as a prefix (`>=DATE_MODIFY`, `@ID`, `%TITLE`,
/// `!ORIGIN_ID`), values are scalars or arrays. Conditions on unknown fields are dropped, as the portal drops them.
struct BitrixDealFilter: Sendable {
    enum Operation: Sendable, Equatable {
        case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual
        case inList, notInList, contains, notContains, like, notLike, between, notBetween

        /// The operator prefixes the portal understands; an unknown prefix drops the condition.
        static func parse(_ prefix: String) -> Operation? {
            switch prefix {
            case "", "=": .equal
            case "!", "!=": .notEqual
            case "<": .less
            case "<=": .lessOrEqual
            case ">": .greater
            case ">=": .greaterOrEqual
            case "@": .inList
            case "!@": .notInList
            case "%": .contains
            case "!%": .notContains
            case "=%", "%=": .like
            case "!=%", "!%=": .notLike
            case "><": .between
            case "!><": .notBetween
            default: nil
            }
        }

        var isNegative: Bool {
            [.notEqual, .notInList, .notContains, .notLike, .notBetween].contains(self)
        }
    }

    struct Condition: Sendable {
        var field: String
        var operation: Operation
        /// Values read for the field's type (comparisons, lists).
        var keys: [BitrixSortKey]
        /// Values as given (substring and LIKE patterns).
        var texts: [String]
    }

    private(set) var conditions: [Condition] = []

    init(_ filter: QueryForm.Map, portal: BitrixPortal) {
        for (rawKey, value) in filter.entries {
            let prefix = String(rawKey.prefix { !$0.isLetter })
            let field = String(rawKey.dropFirst(prefix.count)).uppercased()
            guard var operation = Operation.parse(prefix), let type = BitrixDealSchema.filterType(field, portal: portal)
            else { continue }
            var texts: [String]
            switch value {
            case .string(let text):
                texts =
                    operation == .inList || operation == .notInList
                    ? text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } : [text]
            case .map(let map):
                texts = map.entries.compactMap { $0.value.string }
                if operation == .equal { operation = .inList }
                if operation == .notEqual { operation = .notInList }
            }
            let keys = texts.compactMap { $0.isEmpty ? .text("") : BitrixSortKey(filterValue: $0, type: type, portal: portal) }
            guard keys.count == texts.count || operation == .inList || operation == .notInList else { continue }
            conditions.append(Condition(field: field, operation: operation, keys: keys, texts: texts))
        }
    }

    func matches(_ deal: BitrixDeal, portal: BitrixPortal) -> Bool {
        conditions.allSatisfy { condition in
            let values = BitrixDealSchema.keys(condition.field, of: deal, portal: portal) ?? [.null]
            if condition.operation.isNegative {
                return values.allSatisfy { Self.holds(condition, for: $0) }
            }
            return values.contains { Self.holds(condition, for: $0) }
        }
    }

    private static func holds(_ condition: Condition, for value: BitrixSortKey) -> Bool {
        let first = condition.keys.first
        switch condition.operation {
        case .equal:
            guard let first else { return false }
            return first.isEmpty ? value.isEmpty : (!value.isNull && value == first)
        case .notEqual:
            guard let first else { return true }
            return first.isEmpty ? !value.isEmpty : (value.isNull || value != first)
        case .less: return first.map { !value.isNull && value < $0 } ?? false
        case .lessOrEqual: return first.map { !value.isNull && value <= $0 } ?? false
        case .greater: return first.map { !value.isNull && value > $0 } ?? false
        case .greaterOrEqual: return first.map { !value.isNull && value >= $0 } ?? false
        case .inList: return !value.isNull && condition.keys.contains(value)
        case .notInList: return value.isNull || !condition.keys.contains(value)
        case .contains, .notContains:
            let found =
                text(of: value).map { text in
                    condition.texts.first.map { $0.isEmpty || text.contains($0.lowercased()) } ?? false
                } ?? false
            return condition.operation == .contains ? found : !found
        case .like, .notLike:
            let found = text(of: value).map { text in condition.texts.first.map { like(text, pattern: $0.lowercased()) } ?? false } ?? false
            return condition.operation == .like ? found : !found
        case .between, .notBetween:
            guard condition.keys.count >= 2 else { return condition.operation == .notBetween }
            let inside = !value.isNull && value >= condition.keys[0] && value <= condition.keys[1]
            return condition.operation == .between ? inside : !inside
        }
    }

    private static func text(of value: BitrixSortKey) -> String? {
        switch value {
        case .null: nil
        case .text(let text): text
        case .number(let number): DecimalString.format(number)
        }
    }

    /// SQL `LIKE` with `%` (any run) and `_` (one character).
    static func like(_ text: String, pattern: String) -> Bool {
        let t = Array(text)
        let p = Array(pattern)
        var memo: [Int: Bool] = [:]
        func match(_ i: Int, _ j: Int) -> Bool {
            let key = i * (p.count + 1) + j
            if let known = memo[key] { return known }
            let result: Bool
            if j == p.count {
                result = i == t.count
            } else if p[j] == "%" {
                result = match(i, j + 1) || (i < t.count && match(i + 1, j))
            } else {
                result = i < t.count && (p[j] == "_" || p[j] == t[i]) && match(i + 1, j + 1)
            }
            memo[key] = result
            return result
        }
        return match(0, 0)
    }
}
