/// What one write did to one lead: the input of amoCRM's webhooks.
enum AmoLeadChange: Sendable, Equatable {
    case added(AmoLead)
    case updated(before: AmoLead, after: AmoLead)
    case deleted(AmoLead)
    case restored(AmoLead)

    var lead: AmoLead {
        switch self {
        case .added(let lead), .deleted(let lead), .restored(let lead): lead
        case .updated(_, let after): after
        }
    }
}
