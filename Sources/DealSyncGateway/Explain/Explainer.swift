import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Foundation

/// A dry run for integration engineers: decodes a payload exactly as the webhook route and the intake would,
/// maps it, and — given the stored state — shows what would be decided. Writes nothing.
public struct Explainer: Sendable {
    let configuration: Configuration
    let registry: ConnectorRegistry
    let links: LinkReader?

    public init(configuration: Configuration, registry: ConnectorRegistry, links: LinkReader?) {
        self.configuration = configuration
        self.registry = registry
        self.links = links
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public func explain(connector id: String, payload: Data, headers: [String: String] = [:]) async throws -> Explanation {
        guard let connector = registry.connector(id) else {
            let known = registry.order.joined(separator: ", ")
            throw Failure(description: "unknown connector '\(id)' (configured: \(known))")
        }
        // As a webhook body first, the way the route stores it; then as a record the connector reads itself.
        var attempts: [(String, InboxItem.Source)] = [("webhook body", .webhook), ("fetched record", .fetch)]
        if JSONValue.parse(payload) == nil { attempts.removeLast() }
        var problems: [String] = []
        for (readAs, source) in attempts {
            let row = InboxRow(id: 0, item: InboxItem(connector: id, dedupeKey: "explain", source: source, headers: headers, body: payload))
            let outcome: DecodeOutcome
            do {
                outcome = try connector.decode(row)
            } catch {
                problems.append("as a \(readAs): \(error)")
                continue
            }
            var explanation = Explanation(connector: id, readAs: readAs, observations: [], fetch: [])
            switch outcome {
            case .observations(let observations):
                for observation in observations { explanation.observations.append(try await view(observation)) }
            case .fetch(let requests):
                explanation.fetch = requests.map(\.recordID)
            case .ignore(let reason):
                explanation.ignored = reason
            }
            return explanation
        }
        throw Failure(
            description: "cannot decode the payload for \(id) (\(connector.config.kind.rawValue)): " + problems.joined(separator: "; "))
    }

    func view(_ observation: Observation) async throws -> Explanation.ObservationView {
        var view = Explanation.ObservationView(
            connector: observation.connector, recordID: observation.recordID, side: observation.side.rawValue,
            action: observation.action.rawValue, stamp: observation.stamp?.description, linkedMasterID: observation.linkedMasterID,
            byIntegration: observation.byIntegration,
            fields: observation.fields.mapValues { $0.description }, mapped: [], decision: nil)
        let setup = SyncSetup(configuration: configuration)
        let lanes =
            observation.side == .crm
            ? setup.lanes.filter { $0.connector == observation.connector }
            : setup.lanes.filter { $0.carries(account: observation.account) }
        for lane in lanes {
            view.mapped += lane.mapping.fields.compactMap { field in mapped(field, lane: lane, observation: observation) }
            if let links { view.decision = try await decision(observation, lane: lane, setup: setup, links: links) }
        }
        return view
    }

    func mapped(_ field: FieldMapping, lane: SyncSetup.Lane, observation: Observation) -> Explanation.FieldView? {
        let transformer = FieldTransformer(field: field, mapping: lane.mapping)
        let key = transformer.key(on: observation.side)
        guard
            let value = observation.side == .master
                ? transformer.masterValue(in: observation.fields)
                : transformer.crmValue(in: observation.fields)
        else { return nil }
        var view = Explanation.FieldView(
            field: field.name, sourceKey: key, sourceValue: value.description,
            direction: field.direction.rawValue, rule: field.conflict.description)
        switch transformer.canonical(value, from: observation.side) {
        case .success(let canonical):
            view.canonical = canonical.description
            switch transformer.project(canonical, to: observation.side.other) {
            case .success(let other): view.otherSide = other.description
            case .failure(let problem): view.problem = problem.description
            }
        case .failure(let problem):
            view.problem = problem.description
        }
        if !field.direction.accepts(changeFrom: observation.side) {
            view.problem = (view.problem.map { $0 + "; " } ?? "") + "\(field.direction.rawValue): a change here is written back"
        }
        return view
    }

    func decision(
        _ observation: Observation, lane: SyncSetup.Lane, setup: SyncSetup, links: LinkReader
    ) async throws -> Explanation.DecisionView {
        let cause = "explain"
        var decision: RecordDecision
        var link: String
        if observation.side == .master {
            if let snapshot = try await links.link(connector: lane.connector, masterDealID: observation.recordID) {
                decision = lane.decider.decide(observation, link: snapshot, cause: cause)
                link = "linked to \(lane.connector) record \(snapshot.recordID ?? "(being created)")"
            } else if !lane.mapping.inScope(observation) {
                decision = RecordDecision(fields: [:])
                link = "not linked: outside the mapping's scope, so no \(lane.connector) record would be created"
            } else {
                decision = lane.decider.createInCRM(
                    from: observation, link: LinkSnapshot(linkID: 0, masterDealID: observation.recordID, recordID: nil), cause: cause)
                link = "not linked: a \(lane.connector) record would be created"
            }
        } else if let snapshot = try await links.link(connector: lane.connector, recordID: observation.recordID) {
            decision = lane.decider.decide(observation, link: snapshot, cause: cause)
            link = "linked to MasterDeal deal \(snapshot.masterDealID ?? "(being created)")"
        } else if let master = observation.linkedMasterID {
            decision = lane.decider.adopt(observation, link: LinkSnapshot(linkID: 0, masterDealID: master, recordID: observation.recordID))
            link = "not linked yet: carries master_deal_id \(master); the deal would be read first"
        } else if !lane.mapping.inScope(observation) {
            decision = RecordDecision(fields: [:])
            link = "not linked: outside the mapping's scope, so no MasterDeal deal would be created"
        } else {
            decision = lane.decider.createInMaster(
                from: observation, link: LinkSnapshot(linkID: 0, masterDealID: nil, recordID: observation.recordID),
                account: lane.masterAccount ?? "-", cause: cause)
            link = "not linked: a MasterDeal deal would be created"
        }
        return Explanation.DecisionView(
            link: link, perField: decision.explanations,
            writes: decision.writes.map {
                .init(
                    target: $0.side == .master ? setup.masterConnector : lane.connector, operation: $0.operation.rawValue,
                    values: $0.values.mapValues { $0.description })
            },
            divergence: decision.entries.map { "\($0.kind.rawValue) \($0.field ?? "-"): \($0.outcome)" })
    }
}
