import DealSyncCore
import Foundation

/// amoCRM webhook bodies written the way amoCRM sends them (legacy v2 form, PHP bracket keys,
/// `http_build_query` escaping, values as strings, key order varying between deliveries).
enum AmoWebhookFixtures {
    static let leadA = "24180011"
    static let leadB = "24180015"

    /// `status` (with `old_status_id`) and `update` for lead A, and an API echo (`modified_user_id=0`) for
    /// lead B, in one POST: brackets percent-encoded, Cyrillic in UTF-8, `account` first. Lead A's custom
    /// fields: a select (`[value]` + `[enum]`), the link field, a date as a bare `[values][0]=<unix>`, a
    /// numeric and a phone with `+`, spaces and brackets in its value.
    static let statusAndUpdates = [
        "account%5Bsubdomain%5D=touragency",
        "account%5Bid%5D=31415926",
        "account%5B_links%5D%5Bself%5D=https%3A%2F%2Ftouragency.amocrm.ru",
        "leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=7001002",
        "leads%5Bstatus%5D%5B0%5D%5Bid%5D=24180011",
        "leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=7001004",
        "leads%5Bstatus%5D%5B0%5D%5Bpipeline_id%5D=7001000",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B1%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=md-7f3a",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B1%5D%5Bname%5D=master_deal_id",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B1%5D%5Bid%5D=900001",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Benum%5D=501",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=beach",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bname%5D=%D0%A2%D0%B8%D0%BF+%D1%82%D1%83%D1%80%D0%B0",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bid%5D=900004",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B2%5D%5Bid%5D=900002",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B2%5D%5Bname%5D=SLA",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B2%5D%5Bvalues%5D%5B0%5D=1767312000",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B3%5D%5Bid%5D=900005",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B3%5D%5Bname%5D=%D0%A2%D1%83%D1%80%D0%B8%D1%81%D1%82%D0%BE%D0%B2",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B3%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=4",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B4%5D%5Bid%5D=900003",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B4%5D%5Bname%5D=%D0%A2%D0%B5%D0%BB%D0%B5%D1%84%D0%BE%D0%BD",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B4%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=%2B7+%28912%29+345-67-89",
        "leads%5Bstatus%5D%5B0%5D%5Bname%5D=%D0%A2%D1%83%D1%80+%D0%B2+%D0%A1%D0%BE%D1%87%D0%B8%2C+7+%D0%BD%D0%BE%D1%87%D0%B5%D0%B9",
        "leads%5Bstatus%5D%5B0%5D%5Bprice%5D=150000",
        "leads%5Bstatus%5D%5B0%5D%5Bresponsible_user_id%5D=6001001",
        "leads%5Bstatus%5D%5B0%5D%5Blast_modified%5D=1767225600",
        "leads%5Bstatus%5D%5B0%5D%5Bmodified_user_id%5D=6001002",
        "leads%5Bupdate%5D%5B0%5D%5Bid%5D=24180011",
        "leads%5Bupdate%5D%5B0%5D%5Bname%5D=%D0%A2%D1%83%D1%80+%D0%B2+%D0%A1%D0%BE%D1%87%D0%B8%2C+7+%D0%BD%D0%BE%D1%87%D0%B5%D0%B9",
        "leads%5Bupdate%5D%5B0%5D%5Bstatus_id%5D=7001004",
        "leads%5Bupdate%5D%5B0%5D%5Bprice%5D=150000",
        "leads%5Bupdate%5D%5B0%5D%5Bresponsible_user_id%5D=6001001",
        "leads%5Bupdate%5D%5B0%5D%5Blast_modified%5D=1767225600",
        "leads%5Bupdate%5D%5B0%5D%5Bmodified_user_id%5D=6001002",
        "leads%5Bupdate%5D%5B0%5D%5Bcreated_user_id%5D=6001001",
        "leads%5Bupdate%5D%5B0%5D%5Bdate_create%5D=1767139200",
        "leads%5Bupdate%5D%5B0%5D%5Bpipeline_id%5D=7001000",
        "leads%5Bupdate%5D%5B0%5D%5Baccount_id%5D=31415926",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bid%5D=900004",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bname%5D=%D0%A2%D0%B8%D0%BF+%D1%82%D1%83%D1%80%D0%B0",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=beach",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Benum%5D=501",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B1%5D%5Bid%5D=900001",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B1%5D%5Bname%5D=master_deal_id",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B1%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=md-7f3a",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B2%5D%5Bid%5D=900002",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B2%5D%5Bname%5D=SLA",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B2%5D%5Bvalues%5D%5B0%5D=1767312000",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B3%5D%5Bid%5D=900005",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B3%5D%5Bname%5D=%D0%A2%D1%83%D1%80%D0%B8%D1%81%D1%82%D0%BE%D0%B2",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B3%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=4",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B4%5D%5Bid%5D=900003",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B4%5D%5Bname%5D=%D0%A2%D0%B5%D0%BB%D0%B5%D1%84%D0%BE%D0%BD",
        "leads%5Bupdate%5D%5B0%5D%5Bcustom_fields%5D%5B4%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=%2B7+%28912%29+345-67-89",
        "leads%5Bupdate%5D%5B1%5D%5Blast_modified%5D=1767225601",
        "leads%5Bupdate%5D%5B1%5D%5Bid%5D=24180015",
        "leads%5Bupdate%5D%5B1%5D%5Bmodified_user_id%5D=0",
        "leads%5Bupdate%5D%5B1%5D%5Bname%5D=%D0%A1%D0%B5%D0%BC%D1%8C%D1%8F+%D0%98%D0%B2%D0%B0%D0%BD%D0%BE%D0%B2%D1%8B%D1%85",
        "leads%5Bupdate%5D%5B1%5D%5Bpipeline_id%5D=7001000",
        "leads%5Bupdate%5D%5B1%5D%5Bstatus_id%5D=7001002",
        "leads%5Bupdate%5D%5B1%5D%5Bprice%5D=0",
        "leads%5Bupdate%5D%5B1%5D%5Bresponsible_user_id%5D=6001002",
        "leads%5Bupdate%5D%5B1%5D%5Bcreated_user_id%5D=0",
        "leads%5Bupdate%5D%5B1%5D%5Bdate_create%5D=1767225500",
    ].joined(separator: "&")

    /// `add`, `delete` (only id, status and pipeline), `responsible` (with `old_responsible_user_id`) and
    /// `restore` in one POST, brackets left raw, `account` split around the leads, `[enum]` before `[value]`.
    static let addDeleteResponsibleRestore = [
        "account[id]=31415926",
        "account[subdomain]=touragency",
        "leads[add][0][name]=%D0%9D%D0%BE%D0%B2%D0%B0%D1%8F+%D0%B7%D0%B0%D1%8F%D0%B2%D0%BA%D0%B0%3A+%D0%95%D0%B3%D0%B8%D0%BF%D0%B5%D1%82",
        "leads[add][0][id]=24180021",
        "leads[add][0][status_id]=7001001",
        "leads[add][0][pipeline_id]=7001000",
        "leads[add][0][price]=0",
        "leads[add][0][responsible_user_id]=6001003",
        "leads[add][0][date_create]=1767225700",
        "leads[add][0][created_user_id]=6001003",
        "leads[add][0][last_modified]=1767225700",
        "leads[add][0][modified_user_id]=6001003",
        "leads[add][0][account_id]=31415926",
        "leads[delete][0][pipeline_id]=7001000",
        "leads[delete][0][id]=24180031",
        "leads[delete][0][status_id]=7001004",
        "leads[responsible][0][id]=24180011",
        "leads[responsible][0][responsible_user_id]=6001002",
        "leads[responsible][0][old_responsible_user_id]=6001001",
        "leads[responsible][0][name]=%D0%A2%D1%83%D1%80+%D0%B2+%D0%A1%D0%BE%D1%87%D0%B8%2C+7+%D0%BD%D0%BE%D1%87%D0%B5%D0%B9",
        "leads[responsible][0][status_id]=7001004",
        "leads[responsible][0][pipeline_id]=7001000",
        "leads[responsible][0][price]=150000",
        "leads[responsible][0][last_modified]=1767225800",
        "leads[responsible][0][modified_user_id]=6001001",
        "leads[restore][0][id]=24180041",
        "leads[restore][0][name]=%D0%93%D0%BE%D1%80%D0%BD%D0%BE%D0%BB%D1%8B%D0%B6%D0%BD%D1%8B%D0%B9+%D1%82%D1%83%D1%80",
        "leads[restore][0][status_id]=7001003",
        "leads[restore][0][pipeline_id]=7001000",
        "leads[restore][0][price]=99000",
        "leads[restore][0][responsible_user_id]=6001001",
        "leads[restore][0][last_modified]=1767225900",
        "leads[restore][0][modified_user_id]=6001001",
        "leads[restore][0][custom_fields][0][id]=900004",
        "leads[restore][0][custom_fields][0][name]=%D0%A2%D0%B8%D0%BF+%D1%82%D1%83%D1%80%D0%B0",
        "leads[restore][0][custom_fields][0][values][0][enum]=502",
        "leads[restore][0][custom_fields][0][values][0][value]=ski",
        "account[_links][self]=https%3A%2F%2Ftouragency.amocrm.ru",
    ].joined(separator: "&")

    /// The Digital Pipeline's short form for two leads: ids and statuses only.
    static let automation = [
        "leads%5Bstatus%5D%5B0%5D%5Bid%5D=24180011",
        "leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=7001004",
        "leads%5Bstatus%5D%5B0%5D%5Bpipeline_id%5D=7001000",
        "leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=7001002",
        "leads%5Bstatus%5D%5B0%5D%5Bold_pipeline_id%5D=7001000",
        "leads%5Bstatus%5D%5B1%5D%5Bold_status_id%5D=7001001",
        "leads%5Bstatus%5D%5B1%5D%5Bid%5D=24180015",
        "leads%5Bstatus%5D%5B1%5D%5Bpipeline_id%5D=7001000",
        "leads%5Bstatus%5D%5B1%5D%5Bstatus_id%5D=7001002",
        "leads%5Bstatus%5D%5B1%5D%5Bold_pipeline_id%5D=7001000",
        "account%5Bid%5D=31415926",
        "account%5Bsubdomain%5D=touragency",
    ].joined(separator: "&")

    /// One `update` of one lead as `(key, value)` pairs, for bodies built in a chosen key order.
    static func updatePairs(id: String, name: String, price: Int, lastModified: Int64, by user: Int = 6_001_001) -> [(String, String)] {
        [
            ("leads[update][0][id]", id), ("leads[update][0][name]", name), ("leads[update][0][status_id]", "7001002"),
            ("leads[update][0][pipeline_id]", "7001000"), ("leads[update][0][price]", String(price)),
            ("leads[update][0][responsible_user_id]", "6001001"), ("leads[update][0][last_modified]", String(lastModified)),
            ("leads[update][0][modified_user_id]", String(user)), ("leads[update][0][custom_fields][0][id]", "900004"),
            ("leads[update][0][custom_fields][0][values][0][value]", "ski"),
            ("leads[update][0][custom_fields][0][values][0][enum]", "502"),
            ("account[subdomain]", "touragency"), ("account[id]", "31415926"),
        ]
    }

    /// Encodes pairs as PHP's `http_build_query` does: brackets and everything but `[A-Za-z0-9_.-]` escaped,
    /// spaces as `+`.
    static func form(_ pairs: [(String, String)], rawBrackets: Bool = false) -> String {
        pairs.map { "\(escape($0.0, keepBrackets: rawBrackets))=\(escape($0.1, keepBrackets: false))" }.joined(separator: "&")
    }

    private static func escape(_ text: String, keepBrackets: Bool) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "[") where keepBrackets, UInt8(ascii: "]") where keepBrackets:
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                result += "+"
            default:
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }
}
