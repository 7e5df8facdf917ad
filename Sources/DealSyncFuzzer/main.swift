// The libFuzzer entry point. Build with `scripts/fuzz.sh` (`swift build --sanitize=fuzzer`), which links
// libFuzzer's own `main`; pick the target with DEALSYNC_FUZZ_TARGET (form, amocrm, bitrix24, masterdeal,
// mapping, connector). Built without the sanitizer this program does nothing.
import DealSyncFuzzing
import Foundation

let fuzzTarget = ProcessInfo.processInfo.environment["DEALSYNC_FUZZ_TARGET"].flatMap(FuzzTarget.init(rawValue:))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let fuzzTarget else {
        fatalError("set DEALSYNC_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    if let violation = fuzzTarget.run(Array(UnsafeRawBufferPointer(start: start, count: count))) {
        fatalError("\(fuzzTarget.rawValue): \(violation)")
    }
    return 0
}
