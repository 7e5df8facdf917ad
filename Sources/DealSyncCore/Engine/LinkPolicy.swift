/// Which link an observation is decided on, whether a link and a record on the other side must be made first,
/// or whether the observation must wait. Pure: it reads the links it is given and nothing else.
public struct LinkPolicy: Sendable {
    public let setup: SyncSetup
    /// How many attempts an inbox row may spend waiting for a link dealsync is making before it stops waiting.
    public let maxAttempts: Int

    public init(setup: SyncSetup, maxAttempts: Int) {
        self.setup = setup
        self.maxAttempts = maxAttempts
    }

    public enum Action: Sendable, Equatable {
        /// Decide on this existing link.
        case decide(linkID: Int64)
        /// The echo of a record dealsync created in the CRM, arriving before (or while) its confirmation commits:
        /// the link learns the record's id, then decides.
        case attachRecord(linkID: Int64)
        /// A deal new to this CRM connector: link it and create the CRM record.
        case createInCRM(connector: String)
        /// A CRM record new to MasterDeal, carrying no `master_deal_id`: link it and create the deal.
        case createInMaster(connector: String)
        /// A CRM record carrying a `master_deal_id` dealsync has no link for: link them and read the deal first;
        /// MasterDeal's values then decide.
        case adopt(connector: String, masterDealID: String)
        /// Not linked (or not created), and why: logged as an unmapped value of the link field.
        case problem(connector: String, masterDealID: String, recordID: String?, reason: String)
        /// The observation's inbox row waits and is tried again.
        case wait(reason: String)
    }

    public struct UnknownConnector: Error, Sendable, CustomStringConvertible {
        public var connector: String
        public var description: String { "no mapping for connector \(connector)" }
    }

    /// What to do with `observation`, given the links in `book`; `attempts` is how often its inbox row was tried.
    public func actions(for observation: Observation, in book: LinkBook, attempts: Int) throws(UnknownConnector) -> [Action] {
        switch observation.side {
        case .master: masterActions(observation, book: book, attempts: attempts)
        case .crm: try crmActions(observation, book: book, attempts: attempts)
        }
    }

    private func mayWait(_ attempts: Int) -> Bool { attempts < maxAttempts }

    /// A MasterDeal deal concerns every CRM connector: each decides on its link, or links and creates it.
    private func masterActions(_ observation: Observation, book: LinkBook, attempts: Int) -> [Action] {
        let dealID = observation.recordID
        var actions: [Action] = []
        for lane in setup.lanes {
            if let link = book.link(connector: lane.connector, masterDealID: dealID) {
                actions.append(.decide(linkID: link.id))
                continue
            }
            guard observation.action == .upsert, lane.mapping.create.inCRM, lane.carries(account: observation.account),
                lane.mapping.inScope(observation), book.hold(connector: lane.connector, side: .master, recordID: dealID) == nil
            else { continue }
            // A deal dealsync created for a CRM record gets its link once the create is confirmed. A webhook says who
            // made the deal; a poll does not, so a deal matching a create still waiting for its answer is taken for
            // that create's (its answer may be a moment from being recorded, or lost with a killed process).
            let inFlight = observation.byIntegration ? nil : book.masterCreateInFlight(thatMayHaveMade: observation)
            guard observation.byIntegration || inFlight != nil else {
                actions.append(.createInCRM(connector: lane.connector))
                continue
            }
            if mayWait(attempts) {
                return [
                    .wait(
                        reason: inFlight.map {
                            "waiting for the answer of the create dealsync sent for \($0.connector) record \($0.recordID ?? "?")"
                        }
                            ?? "waiting for the link of a deal dealsync created")
                ]
            }
            // Still unlinked: the confirmation is late or lost (the create may be a dead letter). The CRM record it
            // was made for exists, so another would be a duplicate; the confirmation or a replay links them.
            actions.append(
                .problem(
                    connector: lane.connector, masterDealID: dealID, recordID: nil,
                    reason:
                        "not created in \(lane.connector): dealsync made this deal for a record there and its create is not confirmed yet"))
        }
        return actions
    }

    private func crmActions(_ observation: Observation, book: LinkBook, attempts: Int) throws(UnknownConnector) -> [Action] {
        guard let lane = setup.lane(observation.connector) else { throw UnknownConnector(connector: observation.connector) }
        if let link = book.link(connector: lane.connector, recordID: observation.recordID) {
            return [.decide(linkID: link.id)]
        }
        if let masterID = observation.linkedMasterID, !masterID.isEmpty {
            guard let link = book.link(connector: lane.connector, masterDealID: masterID) else {
                return [.adopt(connector: lane.connector, masterDealID: masterID)]
            }
            if let other = link.recordID, other != observation.recordID {
                // Another record already carries this deal: never link two records to one deal.
                return [
                    .problem(
                        connector: lane.connector, masterDealID: masterID, recordID: observation.recordID,
                        reason: "not linked: deal \(masterID) is already linked to record \(other)")
                ]
            }
            return [.attachRecord(linkID: link.id)]
        }
        if observation.action == .delete, mayWait(attempts) {
            // Possibly a record dealsync just created, whose confirmation has not committed yet: look again later.
            return [.wait(reason: "waiting for the link of a record dealsync created")]
        }
        guard observation.action == .upsert, lane.mapping.create.inMaster, lane.masterAccount != nil,
            lane.mapping.inScope(observation),
            book.hold(connector: lane.connector, side: .crm, recordID: observation.recordID) == nil
        else { return [] }
        return [.createInMaster(connector: lane.connector)]
    }

    /// The most links deciding `observation` may create (the store reserves that many ids).
    public func linksItMayCreate(_ observation: Observation) -> Int {
        switch observation.side {
        case .master: observation.action == .upsert ? setup.lanes.count : 0
        case .crm: 1
        }
    }
}
