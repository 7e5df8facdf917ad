import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import Foundation
import Logging

/// One connector of each kind, configured with known secrets, for the fuzz targets.
final class FuzzConnectors: Sendable {
    static let shared = FuzzConnectors()

    static let amoSecret = "tour-webhook-secret-123456"
    static let bitrixToken = "q8m3v1x7c2n9b5z4k6j0h2g8f1d7s3a5"
    static let eventSecret = "md-event-secret"

    let amo: AmoCRMConnector
    let bitrix: Bitrix24Connector
    let master: MasterDealConnector

    private init() {
        let nowhere = "http://127.0.0.1:9"
        let configuration = try! ConfigurationLoader(environment: [:]).load(
            connectors: [
                .init(
                    path: "fitness.yaml",
                    text: """
                        id: fitness
                        kind: bitrix24
                        base_url: \(nowhere)
                        mapping: fitness
                        master_account: acc-fitness
                        auth:
                          webhook: {user_id: 1, code: x7k2m9q4w1e8r5t3}
                        webhook: {application_token: \(Self.bitrixToken), domain: fitcoach.bitrix24.ru}
                        """),
                .init(
                    path: "masterdeal.yaml",
                    text: """
                        id: masterdeal
                        kind: masterdeal
                        base_url: \(nowhere)
                        auth: {bearer_token: md-dev-token}
                        webhook: {secret: \(Self.eventSecret)}
                        """),
                .init(
                    path: "tour.yaml",
                    text: """
                        id: tour
                        kind: amocrm
                        base_url: \(nowhere)
                        mapping: tour
                        master_account: acc-tour
                        auth: {bearer_token: amo-token}
                        webhook: {secret: \(Self.amoSecret)}
                        """),
            ],
            mappings: [
                .init(
                    path: "tour.yaml",
                    text: """
                        name: tour
                        crm: amocrm
                        pipeline: 7001000
                        link_field: custom_fields.900001
                        fields:
                          title: {master: opportunity_name, crm: name}
                          amount: {master: amount, crm: price, transform: {money: {currency: RUB}}}
                          stage: {master: stage, crm: status, transform: stage, conflict: {priority: master}}
                        stages:
                          lead: [7001001]
                          won: [142]
                        """),
                .init(
                    path: "fitness.yaml",
                    text: """
                        name: fitness
                        crm: bitrix24
                        pipeline: 2
                        link_field: ORIGIN_ID
                        fields:
                          title: {master: opportunity_name, crm: TITLE}
                          stage: {master: stage, crm: STAGE_ID, transform: stage, conflict: {priority: master}}
                        stages:
                          lead: ["C2:NEW"]
                          won: ["C2:WON"]
                        """),
            ])
        let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        let tour = configuration.connector("tour")!, fitness = configuration.connector("fitness")!
        amo = AmoCRMConnector(config: tour, mapping: configuration.mapping(for: tour)!, client: .shared, credentials: nil, logger: logger)
        bitrix = Bitrix24Connector(
            config: fitness, mapping: configuration.mapping(for: fitness)!, client: .shared, credentials: nil,
            logger: logger)
        master = MasterDealConnector(config: configuration.connector("masterdeal")!, client: .shared, logger: logger)
    }

    static let form = ["content-type": "application/x-www-form-urlencoded"]

    func amocrm(_ input: [UInt8]) -> String? {
        let webhook = WebhookRequest(pathSecret: Self.amoSecret, headers: Self.form, body: Data(input))
        guard let item = try? amo.accept(webhook) else { return nil }
        do {
            _ = try amo.decode(InboxRow(id: 1, item: item))
        } catch {
            return "an accepted amoCRM webhook does not decode: \(error)"
        }
        return nil
    }

    func bitrix24(_ input: [UInt8]) -> String? {
        guard let item = try? bitrix.accept(WebhookRequest(headers: Self.form, body: Data(input))) else { return nil }
        if String(decoding: item.body, as: UTF8.self).contains(Self.bitrixToken) || item.body.range(of: Data(Self.bitrixToken.utf8)) != nil
        {
            return "an accepted Bitrix24 event is stored with its token"
        }
        do {
            _ = try bitrix.decode(InboxRow(id: 1, item: item))
        } catch {
            return "an accepted Bitrix24 event does not decode: \(error)"
        }
        return nil
    }

    /// First byte even: the rest is a body the harness signs. Odd: the rest is `<X-Signature>\n<body>`.
    func masterdeal(_ input: [UInt8]) -> String? {
        guard let mode = input.first else { return nil }
        var body = Data(input.dropFirst())
        let now = Date()
        var header: String
        if mode % 2 == 0 {
            header = MasterDealSignature.sign(body: body, secret: Self.eventSecret, timestamp: Int64(now.timeIntervalSince1970))
        } else {
            let rest = input.dropFirst()
            let newline = rest.firstIndex(of: UInt8(ascii: "\n")) ?? rest.endIndex
            header = String(decoding: rest[..<newline], as: UTF8.self)
            body = Data(rest[newline...].dropFirst())
        }
        let webhook = WebhookRequest(headers: ["content-type": "application/json", "x-signature": header], body: body, receivedAt: now)
        guard let item = try? master.accept(webhook) else { return nil }
        do {
            _ = try master.decode(InboxRow(id: 1, item: item))
        } catch {
            return "an accepted MasterDeal event does not decode: \(error)"
        }
        return nil
    }
}
