import Foundation
import Synchronization

/// `batch {halt, cmd: {key: "method?query"}}`: up to 50 commands for one tick of the leaky bucket, always HTTP 200,
/// per-command results and errors keyed like `cmd`, empty sections written as `[]`. Commands run in order and may
/// use earlier results (`$result[key][FIELD]`). Each command counts against its own method's operating limit and
/// reports that account in `result_time`; the batch is a method too, charged what its commands cost, and its `time`
/// reports its own account (`operating` grows with every batch, as real portals show).
extension Bitrix24Simulator {
    func runBatch(_ call: BitrixCall, arrived: Double) -> Result<(BitrixOutcome, BitrixTimeBlock), BitrixError> {
        let key = BitrixOperatingLimiter.Key(caller: call.caller.limiterKey, method: "batch")
        guard !isOverBudget(key) else { return .failure(.operationTimeLimit) }
        let started = ContinuousClock.now
        let halt = BitrixParameters.isTrue(call.params.crmParameter("halt"))
        let commands: [(key: String, command: String)] = (call.params.crmParameter("cmd")?.map?.entries ?? []).compactMap { entry in
            entry.value.string.map { (entry.key, $0) }
        }
        let limit = configuration.limits.maxBatchCommands
        if commands.count > limit, configuration.limits.batchOverflow == .rejectBatch { return .failure(.batchLengthExceeded) }
        var results: [(String, BitrixJSON)] = []
        var errors: [(String, BitrixJSON)] = []
        var totals: [(String, BitrixJSON)] = []
        var nexts: [(String, BitrixJSON)] = []
        var times: [(String, BitrixJSON)] = []
        var values: [String: BitrixJSON] = [:]
        var executed = 0
        var seconds = 0.0
        for (index, (key, command)) in commands.enumerated() {
            let outcome = index < limit ? runCommand(command, caller: call.caller, results: values) : .failure(.batchLengthExceeded)
            executed += 1
            switch outcome {
            case .success(let (result, time)):
                results.append((key, result.result))
                values[key] = result.result
                if let total = result.total { totals.append((key, .int(total))) }
                if let next = result.next { nexts.append((key, .int(next))) }
                times.append((key, time.json))
                seconds += result.seconds
            case .failure(let error):
                errors.append((key, error.json))
            }
            if halt, !errors.isEmpty { break }  // halt=1 stops at the first error
        }
        requestStats.withLock { stats in
            stats.batches += 1
            stats.batchCommands += executed
        }
        let body: BitrixJSON = .object([
            ("result", .phpArray(results)), ("result_error", .phpArray(errors)), ("result_total", .phpArray(totals)),
            ("result_next", .phpArray(nexts)), ("result_time", .phpArray(times)),
        ])
        var outcome = BitrixOutcome(body)
        outcome.seconds = seconds
        let usage = charge(key, seconds: seconds)
        return .success((outcome, timeBlock(arrived: arrived, processing: ContinuousClock.now - started, usage: usage)))
    }

    /// One `method?query` command, with `$result[...]` references resolved.
    private func runCommand(
        _ command: String, caller: BitrixCaller, results: [String: BitrixJSON]
    )
        -> Result<(BitrixOutcome, BitrixTimeBlock), BitrixError>
    {
        let arrived = preciseNow
        let parts = command.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let method = BitrixCall.methodName(String(parts[0]).trimmingCharacters(in: .whitespaces))
        requestStats.withLock { $0.requestsByMethod[method, default: 0] += 1 }
        guard method != "batch" else { return .failure(.batchMethodNotAllowed) }
        guard Self.methodNames.contains(method) else { return .failure(.methodNotFound) }
        let parsed = parts.count > 1 ? QueryForm.parse(String(parts[1])) : QueryForm.Map()
        var params = QueryForm.Map()
        for (name, value) in parsed.entries where name != "auth" {
            params[name] = Self.substitute(value, results: results)
        }
        return execute(BitrixCall(method: method, params: params, caller: caller), arrived: arrived)
    }

    // MARK: $result references

    static func substitute(_ value: QueryForm.Value, results: [String: BitrixJSON]) -> QueryForm.Value {
        switch value {
        case .map(let map):
            var out = QueryForm.Map()
            for (key, child) in map.entries { out[key] = substitute(child, results: results) }
            return .map(out)
        case .string(let text):
            guard text.contains("$result[") else { return value }
            if let (json, end) = resolve(text, at: text.startIndex, results: results), end == text.endIndex {
                return BitrixParameters.value(of: json)
            }
            var out = ""
            var index = text.startIndex
            while index < text.endIndex {
                if let (json, end) = resolve(text, at: index, results: results) {
                    out += scalarText(json)
                    index = end
                } else {
                    out.append(text[index])
                    index = text.index(after: index)
                }
            }
            return .string(out)
        }
    }

    /// `$result[key][FIELD][0]` starting at `start`: the value it names and where the reference ends.
    private static func resolve(
        _ text: String, at start: String.Index, results: [String: BitrixJSON]
    )
        -> (BitrixJSON, String.Index)?
    {
        guard text[start...].hasPrefix("$result[") else { return nil }
        var index = text.index(start, offsetBy: 7)
        var path: [String] = []
        while index < text.endIndex, text[index] == "[", let close = text[index...].firstIndex(of: "]") {
            path.append(String(text[text.index(after: index)..<close]))
            index = text.index(after: close)
        }
        guard let first = path.first, var json = results[first] else { return nil }
        for component in path.dropFirst() {
            switch json {
            case .object(let members):
                guard let member = members.first(where: { $0.0 == component })?.1 else { return nil }
                json = member
            case .array(let items):
                guard let position = Int(component), items.indices.contains(position) else { return nil }
                json = items[position]
            default:
                return nil
            }
        }
        return (json, index)
    }

    private static func scalarText(_ json: BitrixJSON) -> String {
        switch BitrixParameters.value(of: json) {
        case .string(let text): text
        case .map: "Array"
        }
    }
}
