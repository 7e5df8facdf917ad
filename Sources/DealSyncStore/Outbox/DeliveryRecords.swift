import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// The outbox side of a relay round's outcomes, as the columns ``DecisionRecords`` writes in the statement that
/// saves what the outcomes decided: the rows done, to try again and dead, the dead letters, and the writes that
/// follow a deal the round created.
struct DeliveryRecords {
    var done = (ids: [Int64](), entries: [String](), deals: [String]())
    var retried = (ids: [Int64](), at: [Date](), entries: [String]())
    var dead = (ids: [Int64](), entries: [String](), classes: [String](), details: [String]())
    /// The links whose MasterDeal deal the round's creates made: their open writes, queued before the deal existed,
    /// now follow it.
    var retargeted = (links: [Int64](), deals: [String]())

    var isEmpty: Bool { done.ids.isEmpty && retried.ids.isEmpty && dead.ids.isEmpty && retargeted.links.isEmpty }

    /// Every outbox row the round recorded an outcome for.
    var roundIDs: [Int64] { done.ids + retried.ids + dead.ids }

    init() {}

    /// `round`'s rows. A create delivered to `masterTarget` names its new deal in the same update that marks it
    /// done: one row version fewer than naming it afterwards with the writes that follow the deal.
    init(_ round: [(group: WriteGroup, outcome: DeliveryOutcomes.Outcome)], masterTarget: String) throws {
        for (group, outcome) in round {
            switch outcome {
            case .delivered(let recordID, _, let attempt):
                let entry = attempt.logText
                let madeDeal = group.head.operation == .create && group.head.target == masterTarget
                for id in group.ids {
                    done.ids.append(id)
                    done.entries.append(entry)
                    done.deals.append(madeDeal ? recordID : "")
                }
            case .retry(let at, let attempt):
                let entry = attempt.logText
                for id in group.ids {
                    retried.ids.append(id)
                    retried.at.append(at)
                    retried.entries.append(entry)
                }
            case .deadLetter(let errorClass, let attempt):
                let entry = attempt.logText
                for id in group.ids {
                    dead.ids.append(id)
                    dead.entries.append(entry)
                    dead.classes.append(errorClass.rawValue)
                    dead.details.append(attempt.detail)
                }
            }
        }
    }

    /// Link `link`'s open writes follow deal `deal` (its create was confirmed in this round).
    mutating func retarget(link: Int64, to deal: String) {
        retargeted.links.append(link)
        retargeted.deals.append(deal)
    }
}
