import DealSyncSimulators
import Foundation
import Testing

/// The item routes client libraries call: a pipeline's statuses, one status, one user, one custom field.
struct AmoCRMReferenceRoutesTests {
    typealias Default = Amo.Default

    /// JSON text with sorted keys, to compare what two answers hold.
    static func canonical(_ value: Any) -> String {
        (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "?"
    }

    @Test func aPipelinesStatusesAndOneStatusAreTheListsOwn() async throws {
        try await Amo.withSimulator { _, client in
            let pipelines = try await client.get("/api/v4/leads/pipelines").object.jsonObject("_embedded").jsonArray("pipelines")
            for pipeline in pipelines {
                let id = try #require(pipeline.jsonInt("id"))
                let listed = pipeline.jsonObject("_embedded").jsonArray("statuses")
                let reply = try await client.get("/api/v4/leads/pipelines/\(id)/statuses")
                #expect(reply.status == 200 && reply.contentType == "application/hal+json")
                #expect(reply.object.jsonInt("_total_items") == listed.count)
                #expect(
                    reply.object.jsonObject("_links").jsonObject("self").jsonString("href")?.hasSuffix(
                        "/api/v4/leads/pipelines/\(id)/statuses") == true)
                let statuses = reply.object.jsonObject("_embedded").jsonArray("statuses")
                #expect(Self.canonical(statuses) == Self.canonical(listed), "the same statuses as in the pipeline list")
                for status in listed {
                    let one = try await client.get("/api/v4/leads/pipelines/\(id)/statuses/\(status.jsonInt("id")!)")
                    #expect(one.status == 200 && Self.canonical(one.object) == Self.canonical(status))
                }
                #expect(try await client.get("/api/v4/leads/pipelines/\(id)/statuses/1").status == 204)
            }
            let missing = try await client.get("/api/v4/leads/pipelines/0/statuses")
            #expect(missing.status == 404 && missing.contentType == "application/problem+json")
            #expect(
                missing.body == #"{"title":"Not Found","type":"https:\/\/httpstatus.es\/404","status":404,"detail":"Pipeline not found"}"#)
            #expect(try await client.get("/api/v4/leads/pipelines/\(Default.toursPipeline)/statuses", token: nil).status == 401)
        }
    }

    @Test func oneUserAndOneCustomFieldAreTheListsOwn() async throws {
        try await Amo.withSimulator { _, client in
            let users = try await client.get("/api/v4/users").object.jsonObject("_embedded").jsonArray("users")
            for user in users {
                let one = try await client.get("/api/v4/users/\(user.jsonInt("id")!)")
                #expect(one.status == 200 && Self.canonical(one.object) == Self.canonical(user), "\(user)")
            }
            #expect(try await client.get("/api/v4/users/1").status == 204)
            let fields = try await client.get("/api/v4/leads/custom_fields").object.jsonObject("_embedded").jsonArray("custom_fields")
            for field in fields {
                let one = try await client.get("/api/v4/leads/custom_fields/\(field.jsonInt("id")!)")
                #expect(one.status == 200 && Self.canonical(one.object) == Self.canonical(field), "\(field)")
            }
            #expect(try await client.get("/api/v4/leads/custom_fields/1").status == 204)
            #expect(try await client.get("/api/v4/users/\(Default.salesAnna)", token: nil).status == 401)
        }
    }
}
