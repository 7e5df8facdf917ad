import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import Foundation
import Logging

/// The parsers hostile input reaches, each with the properties it must keep for any bytes at all. The
/// libFuzzer harness (`dealsync-fuzz`, built with `--sanitize=fuzzer`) and the test suite's short seeded run
/// call the same code.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `PHPForm`: parse, the key scan and credential blanking.
    case form
    /// amoCRM webhooks through `AmoCRMConnector.accept` and `decode`.
    case amocrm
    /// Bitrix24 events through `Bitrix24Connector.accept` and `decode`.
    case bitrix24
    /// MasterDeal events through `MasterDealConnector.accept` and `decode`: signed by the harness (so the JSON
    /// decoder behind the HMAC is reached) or with the first line as the `X-Signature` header.
    case masterdeal
    /// A mapping file through the configuration reader (YAML budget, composer, mapping reader, validator).
    case mapping
    /// A connector file through the configuration reader.
    case connector

    /// Runs one input; returns what went wrong when a property does not hold (a crash or a hang is the
    /// fuzzer's to see).
    public func run(_ input: [UInt8]) -> String? {
        switch self {
        case .form: FormProperties.check(input)
        case .amocrm: FuzzConnectors.shared.amocrm(input)
        case .bitrix24: FuzzConnectors.shared.bitrix24(input)
        case .masterdeal: FuzzConnectors.shared.masterdeal(input)
        case .mapping: Self.configuration(mapping: input)
        case .connector: Self.configuration(connector: input)
        }
    }

    static func configuration(mapping: [UInt8]? = nil, connector: [UInt8]? = nil) -> String? {
        let loader = ConfigurationLoader(environment: ["SECRET": "fuzz-secret-value-0001"])
        let text = String(decoding: mapping ?? connector ?? [], as: UTF8.self)
        do {
            _ = try loader.load(
                connectors: connector == nil ? [] : [.init(path: "c.yaml", text: text)],
                mappings: mapping == nil ? [] : [.init(path: "m.yaml", text: text)])
        } catch {
            if error.diagnostics.isEmpty { return "refused without a diagnostic" }
            if error.diagnostics.contains(where: { $0.description.contains("fuzz-secret-value-0001") }) {
                return "a diagnostic shows a substituted secret"
            }
        }
        return nil
    }
}

/// What every form must satisfy.
enum FormProperties {
    static let credentials: Set<[String]> = [["auth", "application_token"], ["auth", "access_token"]]

    static func check(_ input: [UInt8]) -> String? {
        _ = PHPForm.scanValue(of: "auth[application_token]", in: input)
        let blanked = PHPForm.blankingValues(at: credentials, in: input)
        guard let form = try? PHPForm.parse(bytes: input) else { return nil }
        // What was parsed reads back the same once written out.
        let again = try? PHPForm.parse(PHPForm.encode(PHPForm.flatten(form)))
        if again != form { return "flatten + encode + parse changed the form" }
        // Blanking keeps a form parsable and leaves no credential value in it.
        guard let clean = try? PHPForm.parse(bytes: blanked) else { return "blanking made a parsable form unparsable" }
        for path in credentials {
            if case .string(let value)? = clean[path[0]]?[path[1]], !value.isEmpty { return "a credential survived blanking" }
        }
        return nil
    }
}
