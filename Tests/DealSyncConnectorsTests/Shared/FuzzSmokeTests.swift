import DealSyncCore
import DealSyncFuzzing
import DealSyncTestSupport
import Foundation
import Testing

/// A short, seeded run of every fuzz target over the committed corpus (`fuzz/corpus`, made from these tests'
/// fixtures) and mutations of it: the same properties the long libFuzzer runs of `scripts/fuzz.sh` check, in a
/// second or two, the same inputs every time.
struct FuzzSmokeTests {
    static let mutationsPerTarget = 400

    @Test(arguments: FuzzTarget.allCases)
    func everySeedAndItsMutationsKeepTheTargetsProperties(target: FuzzTarget) throws {
        let directory = Repository.root() + "/fuzz/corpus/\(target.rawValue)"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        let seeds = try names.map { [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\($0)"))) }
        #expect(!seeds.isEmpty, "no seeds in \(directory)")
        for (name, seed) in zip(names, seeds) {
            if let violation = target.run(seed) { Issue.record("\(target.rawValue) seed \(name): \(violation)") }
        }
        var random = SplitMix64(seed: 19)
        for index in 0..<Self.mutationsPerTarget {
            let input = Mutator.mutate(seeds[index % seeds.count], other: seeds[random.next(below: seeds.count)], random: &random)
            if let violation = target.run(input) {
                Issue.record("\(target.rawValue) mutation \(index): \(violation): \(String(decoding: input, as: UTF8.self))")
            }
        }
    }
}

/// A few of libFuzzer's mutations, seeded.
enum Mutator {
    /// Fragments the parsers treat specially.
    static let tokens: [[UInt8]] = [
        "[", "]", "[]", "%", "%5B", "%FF", "%zz", "&", "=", "+", "\n", ": ", "- ", "*a", "&a ", "{", "}",
        "auth[application_token]=", "leads[add][0][id]=", "\"", "\u{FEFF}", "${X}",
    ].map { Array($0.utf8) }

    static func mutate(_ seed: [UInt8], other: [UInt8], random: inout SplitMix64) -> [UInt8] {
        var bytes = seed
        for _ in 0...random.next(below: 4) {
            let at = bytes.isEmpty ? 0 : random.next(below: bytes.count + 1)
            switch random.next(below: 6) {
            case 0 where !bytes.isEmpty: bytes[min(at, bytes.count - 1)] = UInt8(truncatingIfNeeded: random.next(below: 256))
            case 1: bytes.insert(contentsOf: tokens[random.next(below: tokens.count)], at: at)
            case 2 where at < bytes.count: bytes.removeSubrange(at..<min(bytes.count, at + random.next(below: 16) + 1))
            case 3 where at < bytes.count:
                let end = min(bytes.count, at + random.next(below: 64) + 1)
                bytes.insert(contentsOf: Array(bytes[at..<end]), at: end)
            case 4 where !other.isEmpty:
                let from = random.next(below: other.count)
                bytes.insert(contentsOf: other[from..<min(other.count, from + random.next(below: 128) + 1)], at: at)
            default: bytes.insert(UInt8(truncatingIfNeeded: random.next(below: 256)), at: at)
            }
        }
        return bytes
    }
}
