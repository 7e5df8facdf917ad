import Hummingbird

/// One item of the reference data, the routes client libraries call besides the lists:
/// `GET /api/v4/leads/pipelines/{id}`, `…/{id}/statuses`, `…/{id}/statuses/{status_id}`, `/api/v4/users/{id}` and
/// `/api/v4/leads/custom_fields/{id}`.
///
/// A pipeline that does not exist answers 404 "Pipeline not found" under `…/statuses` (as amoCRM does for pipeline 0)
/// and 204 for the pipeline itself; a missing user, field or status, 204, amoCRM's "nothing here".
extension AmoCRMSimulator {
    func addReferenceItemRoutes(to router: Router<BasicRequestContext>) {
        router.get("/api/v4/leads/pipelines/:id") { request, context in
            _ = try self.authenticate(request)
            guard let pipeline = context.parameters.get("id", as: Int.self).flatMap(self.catalog.pipeline) else {
                return AmoResponse.noContent()
            }
            return AmoResponse.hal(self.catalogJSON(request).pipeline(pipeline))
        }
        router.get("/api/v4/leads/pipelines/:id/statuses") { request, context in
            _ = try self.authenticate(request)
            let pipeline = try self.pipeline(context)
            let json = self.catalogJSON(request)
            return AmoResponse.hal(
                .object([
                    ("_total_items", .int(pipeline.statuses.count)),
                    ("_links", AmoLeadJSON.links("\(json.base)/api/v4/leads/pipelines/\(pipeline.id)/statuses")),
                    ("_embedded", .object([("statuses", .array(pipeline.statuses.map { json.status($0, in: pipeline) }))])),
                ]))
        }
        router.get("/api/v4/leads/pipelines/:id/statuses/:status") { request, context in
            _ = try self.authenticate(request)
            let pipeline = try self.pipeline(context)
            guard let id = context.parameters.get("status", as: Int.self), let status = pipeline.statuses.first(where: { $0.id == id })
            else { return AmoResponse.noContent() }
            return AmoResponse.hal(self.catalogJSON(request).status(status, in: pipeline))
        }
        router.get("/api/v4/users/:id") { request, context in
            let caller = try self.authenticate(request)
            guard self.catalog.user(caller)?.isAdmin ?? false else { throw AmoProblem.forbidden }
            guard let user = context.parameters.get("id", as: Int.self).flatMap(self.catalog.user) else { return AmoResponse.noContent() }
            return AmoResponse.hal(self.catalogJSON(request).user(user))
        }
        router.get("/api/v4/leads/custom_fields/:id") { request, context in
            _ = try self.authenticate(request)
            guard let field = context.parameters.get("id", as: Int.self).flatMap(self.catalog.field) else { return AmoResponse.noContent() }
            return AmoResponse.hal(self.catalogJSON(request).field(field))
        }
    }

    /// The pipeline named in the path, else 404 problem JSON.
    private func pipeline(_ context: BasicRequestContext) throws(AmoProblem) -> Pipeline {
        guard let pipeline = context.parameters.get("id", as: Int.self).flatMap(catalog.pipeline) else {
            throw AmoProblem.httpStatus(.notFound, detail: "Pipeline not found")
        }
        return pipeline
    }
}
