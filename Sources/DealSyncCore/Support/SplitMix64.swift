import Foundation

/// SplitMix64: a small, fast generator whose whole sequence follows from its seed, so a simulator's faults and
/// a property test's interleavings replay exactly. The one generator of the project (simulators and tests).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<1 with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    public mutating func bool() -> Bool { next() & 1 == 1 }

    /// A number in `low..<high`.
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }

    /// An exponentially distributed wait with the given rate (events per unit of time).
    public mutating func exponential(rate: Double) -> Double { -log(1 - unit()) / rate }

    /// An integer in `0..<bound` (0 when `bound` is not positive).
    public mutating func next(below bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
}
