/// The `time` member: when the call started and finished (unix seconds with microseconds and `date('c')` in the
/// portal's zone), and the method's accumulated `operating` time with the instant part of it is released.
struct BitrixTimeBlock: Sendable {
    var start: Double
    var finish: Double
    var processing: Double
    var operating: Double?
    var operatingResetAt: Int?
    var offsetSeconds: Int

    var json: BitrixJSON {
        func date(_ seconds: Double) -> String {
            DateText.php(seconds: Int64(seconds.rounded(.down)), offsetSeconds: offsetSeconds)
        }
        var members: [(String, BitrixJSON)] = [
            ("start", .double(start)), ("finish", .double(finish)), ("duration", .double(finish - start)),
            ("processing", .double(processing)), ("date_start", .string(date(start))), ("date_finish", .string(date(finish))),
        ]
        if let operatingResetAt { members.append(("operating_reset_at", .int(operatingResetAt))) }
        if let operating { members.append(("operating", .double(operating))) }
        return .object(members)
    }
}
