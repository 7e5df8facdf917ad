import DealSyncCore
import Foundation
import Testing

@testable import DealSyncSimulators

/// The decision logic without sockets: the leaky bucket, the operating buckets, PHP readings, LIKE, dates.
struct Bitrix24RulesTests {
    typealias Instant = ContinuousClock.Instant

    @Test func theBucketHoldsItsCapacityAndDrainsAtItsRate() {
        var bucket = BitrixLeakyBucket(capacity: 50, drainPerSecond: 2)
        let start = Instant.now
        let burst = (0..<50).map { _ in bucket.admit(at: start) }
        #expect(burst.allSatisfy { $0 })
        let fiftyFirst = bucket.admit(at: start)
        #expect(!fiftyFirst, "the 51st in the same instant is refused")
        let early = bucket.admit(at: start + .milliseconds(400))
        #expect(!early, "0.8 drained is not room for one")
        let drained = bucket.admit(at: start + .milliseconds(500))
        #expect(drained, "one drained after half a second")
        let again = bucket.admit(at: start + .milliseconds(600))
        #expect(!again)
        #expect(bucket.peak == 50)
        let later = bucket.current(at: start + .seconds(100))
        #expect(later == 0)
    }

    @Test func operatingTimeLeavesBucketByBucket() {
        let key = BitrixOperatingLimiter.Key(caller: "app", method: "crm.deal.list")
        var limiter = BitrixOperatingLimiter(budget: 480, window: .seconds(600))
        let start = Instant.now
        // 20 calls of 20 s in the first minute, five more in the second: 500 s.
        for _ in 0..<20 { limiter.register(key, seconds: 20, at: start) }
        let underBudget = limiter.isBlocked(key, at: start + .seconds(60))
        #expect(!underBudget)
        for _ in 0..<5 { limiter.register(key, seconds: 20, at: start + .seconds(61)) }
        let overBudget = limiter.isBlocked(key, at: start + .seconds(62))
        #expect(overBudget, "500 s is over the 480 s budget")
        let usage = limiter.usage(key, at: start + .seconds(62))
        #expect(usage.operating == 500 && usage.resetIn == .seconds(538))
        let stillBlocked = limiter.isBlocked(key, at: start + .seconds(599))
        #expect(stillBlocked)
        let released = limiter.isBlocked(key, at: start + .seconds(600))
        #expect(!released, "the first minute's 400 s leave; 100 s remain")
        let remaining = limiter.usage(key, at: start + .seconds(600)).operating
        #expect(remaining == 100)
        let other = BitrixOperatingLimiter.Key(caller: "app", method: "crm.deal.get")
        let otherBlocked = limiter.isBlocked(other, at: start + .seconds(62))
        #expect(!otherBlocked)
        var off = BitrixOperatingLimiter(budget: nil, window: .seconds(600))
        off.register(key, seconds: 10_000, at: start)
        let offBlocked = off.isBlocked(key, at: start)
        #expect(!offBlocked)
    }

    @Test func numbersAreReadLikePHP() {
        #expect(BitrixSortKey.phpNumber("12abc") == 12)
        #expect(BitrixSortKey.phpNumber("abc") == 0)
        #expect(BitrixSortKey.phpNumber(" -7.25 ") == Decimal(string: "-7.25"))
        #expect(BitrixSortKey.phpNumber("15 000") == 15)
        #expect(BitrixDealWrite.phpInt("42.9") == 42)
    }

    @Test func likePatternsMatchAsInSQL() {
        #expect(BitrixDealFilter.like("марина котова", pattern: "%котова"))
        #expect(BitrixDealFilter.like("abc", pattern: "a_c"))
        #expect(!BitrixDealFilter.like("abc", pattern: "a_"))
        #expect(BitrixDealFilter.like("", pattern: "%"))
    }

    @Test func datesParseInThePortalsZone() {
        let portal = BitrixPortal(Bitrix24Simulator.Configuration())
        let instant = 1_800_000_000  // 2027-01-15T08:00:00Z
        #expect(portal.format(seconds: instant) == "2027-01-15T11:00:00+03:00")
        #expect(portal.parseDateTime("2027-01-15T11:00:00+03:00") == instant)
        #expect(portal.parseDateTime("2027-01-15T08:00:00Z") == instant)
        #expect(portal.parseDateTime("2027-01-15 11:00:00") == instant, "no offset: the portal's zone")
        #expect(portal.parseDateTime("15.01.2027 11:00:00") == instant)
        #expect(portal.parseDateTime("15.01.2027") == instant - 11 * 3600)
        #expect(portal.parseDateTime("yesterday") == nil)
        #expect(portal.format(day: "2027-01-15") == "2027-01-15T00:00:00+03:00")
        var utc = Bitrix24Simulator.Configuration()
        utc.timeZoneOffsetSeconds = 0
        #expect(BitrixPortal(utc).format(seconds: instant) == "2027-01-15T08:00:00+00:00")
    }

    @Test func phpArraysBecomeListsOnlyWithSequentialKeys() {
        #expect(BitrixJSON.phpArray([]).text == "[]")
        #expect(BitrixJSON.phpArray([("0", .int(1)), ("1", .int(2))]).text == "[1,2]")
        #expect(BitrixJSON.phpArray([("1", .int(2))]).text == #"{"1":2}"#)
        #expect(BitrixJSON.phpArray([("a", .bool(true))]).text == #"{"a":true}"#)
    }

    @Test func pagesAreFiftyAndStartNamesAPage() {
        let items = Array(0..<120)
        #expect(Bitrix24Simulator.page(items, start: 0).next == 50)
        #expect(Bitrix24Simulator.page(items, start: 49).items.first == 0)
        #expect(Bitrix24Simulator.page(items, start: 100).items.count == 20)
        #expect(Bitrix24Simulator.page(items, start: 100).next == nil)
        #expect(Bitrix24Simulator.page(items, start: -1).total == 0)
        #expect(Bitrix24Simulator.page(Array(0..<100), start: 50).next == nil)
    }
}
