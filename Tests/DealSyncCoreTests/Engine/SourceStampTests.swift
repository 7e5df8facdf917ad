import DealSyncCore
import Testing

/// A stamp in seconds from the wire (Bitrix24's `ts`, amoCRM's `updated_at`) may be anything a sender writes.
struct SourceStampTests {
    @Test func secondsBeyondMillisecondsAreHeldAtTheEndsInsteadOfTrapping() {
        #expect(SourceStamp(seconds: Int64.max).millis == Int64.max)
        #expect(SourceStamp(seconds: Int64.max / 999).millis == Int64.max)
        #expect(SourceStamp(seconds: Int64.min).millis == Int64.min)
        #expect(SourceStamp(seconds: 1_767_225_600).millis == 1_767_225_600_000)
        #expect(SourceStamp(seconds: -5).millis == -5_000)
    }
}
