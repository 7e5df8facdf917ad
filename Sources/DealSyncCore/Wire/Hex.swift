/// Lower-case hexadecimal text of bytes (digests, keys), without a formatter per byte.
public enum Hex {
    /// Inlinable, so a caller's sequence (a digest's prefix) is iterated as its own type rather than through the
    /// generic witness, which cost more than the hashing it follows.
    @inlinable
    public static func lower(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digit(byte >> 4))
            out.append(digit(byte & 0x0F))
        }
        return String(decoding: out, as: UTF8.self)
    }

    @inlinable
    static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
    }
}
