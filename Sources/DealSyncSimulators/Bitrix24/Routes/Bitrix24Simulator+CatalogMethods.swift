import HTTPTypes
import Synchronization

/// Funnels (`crm.category.list`), stages (`crm.status.list`) and users (`user.get`, `user.current`).
extension Bitrix24Simulator {
    /// `crm.category.list {entityTypeId: 2}` → `{"categories": [...]}`, funnel 0 marked `isDefault: "Y"`.
    func listCategories(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        let entityType = call.params.text("entityTypeId", "ENTITY_TYPE_ID", "entityTypeID").map(BitrixDealWrite.phpInt) ?? 0
        guard entityType == 2 else { throw BitrixError(.badRequest, "NOT_FOUND", "Smart process not found") }
        let categories: [BitrixJSON] = portal.categories.map { category in
            var members: [(String, BitrixJSON)] = [
                ("id", .int(category.id)), ("name", .string(category.name)), ("sort", .int(category.sort)),
                ("entityTypeId", .int(2)), ("isDefault", .string(category.id == 0 ? "Y" : "N")),
            ]
            if category.id != 0 { members += [("originId", .string("")), ("originatorId", .string(""))] }
            return .object(members)
        }
        let page = Self.page(categories, start: Self.start(call.params))
        return BitrixOutcome(
            .object([("categories", .array(page.items))]), total: page.total, next: page.next,
            rows: page.items.count)
    }

    /// `crm.status.list {filter: {ENTITY_ID: "DEAL_STAGE" | "DEAL_STAGE_<n>"}}`: the stages of the funnels, with
    /// `SEMANTICS` null while in progress, `"S"` for success and `"F"` for failure.
    func listStatuses(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        let filterValue = call.params.crmParameter("filter")
        if case .string? = filterValue { throw .mustBeArray("filter") }
        let filter = filterValue?.map ?? QueryForm.Map()
        var items: [(sort: Int, record: Int, json: BitrixJSON)] = []
        for category in portal.categories {
            for ref in portal.stages(in: category.id) {
                let values: [String: String] = [
                    "ENTITY_ID": category.statusEntityID, "STATUS_ID": ref.id, "ID": String(ref.recordID),
                    "CATEGORY_ID": String(category.id), "NAME": ref.stage.name,
                ]
                let matches = filter.entries.allSatisfy { key, value in
                    let name = String(key.drop { !$0.isLetter }).uppercased()
                    guard let expected = value.string, let actual = values[name] else { return true }
                    return actual.lowercased() == expected.lowercased()
                }
                guard matches else { continue }
                items.append((ref.stage.sort, ref.recordID, statusJSON(ref, category: category)))
            }
        }
        let sorted = items.sorted { ($0.sort, $0.record) < ($1.sort, $1.record) }.map(\.json)
        let page = Self.page(sorted, start: Self.start(call.params))
        return BitrixOutcome(.array(page.items), total: page.total, next: page.next, rows: page.items.count)
    }

    private func statusJSON(_ ref: BitrixPortal.StageRef, category: BitrixPortal.Category) -> BitrixJSON {
        let system = ["NEW", "WON", "LOSE"].contains(ref.stage.code)
        let semantics: BitrixJSON =
            switch ref.stage.semantics {
            case .process: .null
            case .success: .string("S")
            case .failure: .string("F")
            }
        return .object([
            ("ID", .string(String(ref.recordID))), ("ENTITY_ID", .string(category.statusEntityID)),
            ("STATUS_ID", .string(ref.id)), ("NAME", .string(ref.stage.name)),
            ("NAME_INIT", .string(system ? ref.stage.name : "")), ("SORT", .string(String(ref.stage.sort))),
            ("SYSTEM", .string(system ? "Y" : "N")), ("CATEGORY_ID", category.id == 0 ? .null : .string(String(category.id))),
            ("COLOR", .string(ref.stage.color)), ("SEMANTICS", semantics),
            ("EXTRA", .object([("SEMANTICS", .string(ref.extraSemantics)), ("COLOR", .string(ref.stage.color))])),
        ])
    }

    // MARK: Users

    /// `user.get {FILTER, start}` (filter keys also accepted at the top level): `ID`, `ACTIVE`, `EMAIL`, `NAME`,
    /// `LAST_NAME`, `WORK_POSITION`; pages of 50 with `total`.
    func listUsers(_ call: BitrixCall) -> BitrixOutcome {
        var conditions = call.params.crmParameter("filter")?.map ?? QueryForm.Map()
        for (key, value) in call.params.entries where Self.userFilterKeys.contains(key.uppercased()) { conditions[key] = value }
        let users = portal.users.filter { user in
            conditions.entries.allSatisfy { key, value in
                guard let expected = value.string?.lowercased() else { return true }
                switch String(key.drop { !$0.isLetter }).uppercased() {
                case "ID": return String(user.id) == expected
                case "ACTIVE": return user.active == BitrixParameters.isTrue(value)
                case "EMAIL": return user.email.lowercased() == expected
                case "NAME": return user.name.lowercased() == expected
                case "LAST_NAME": return user.lastName.lowercased() == expected
                case "WORK_POSITION": return user.workPosition.lowercased() == expected
                default: return true
                }
            }
        }
        let page = Self.page(users, start: Self.start(call.params))
        return BitrixOutcome(.array(page.items.map(userJSON)), total: page.total, next: page.next, rows: page.items.count)
    }

    func currentUser(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        guard let user = portal.user(call.caller.userID) else { throw .noAuth }
        return BitrixOutcome(userJSON(user), rows: 1)
    }

    /// `profile`: who the webhook or token acts as (a common connectivity check).
    func profile(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        guard let user = portal.user(call.caller.userID) else { throw .noAuth }
        return BitrixOutcome(
            .object([
                ("ID", .string(String(user.id))), ("ADMIN", .bool(user.id == configuration.oauth.userID)), ("NAME", .string(user.name)),
                ("LAST_NAME", .string(user.lastName)), ("PERSONAL_GENDER", .string("")), ("TIME_ZONE", .string("")),
                ("TIME_ZONE_OFFSET", .int(configuration.timeZoneOffsetSeconds)),
            ]), rows: 1)
    }

    private static let userFilterKeys: Set<String> = ["ID", "ACTIVE", "EMAIL", "NAME", "LAST_NAME", "WORK_POSITION"]

    private func userJSON(_ user: BitrixPortal.User) -> BitrixJSON {
        .object([
            ("ID", .string(String(user.id))), ("ACTIVE", .bool(user.active)), ("NAME", .string(user.name)),
            ("LAST_NAME", .string(user.lastName)), ("SECOND_NAME", .string("")), ("EMAIL", .string(user.email)),
            ("IS_ONLINE", .string("N")), ("WORK_POSITION", .string(user.workPosition)), ("UF_DEPARTMENT", .array([.int(1)])),
            ("USER_TYPE", .string("employee")),
        ])
    }
}
