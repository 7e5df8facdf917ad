import Testing

@testable import DealSyncSimulators

/// The simulators' own `parse_str` / `http_build_query`, checked against PHP's documented behaviour.
struct QueryFormTests {
    @Test func buildEncodesLikePHPsURLEncode() {
        #expect(
            QueryForm.build([("leads[add][0][name]", "Сочи ~ 7 ночей (семья)")])
                == "leads%5Badd%5D%5B0%5D%5Bname%5D=%D0%A1%D0%BE%D1%87%D0%B8+%7E+7+%D0%BD%D0%BE%D1%87%D0%B5%D0%B9+%28%D1%81%D0%B5%D0%BC%D1%8C%D1%8F%29"
        )
        #expect(QueryForm.urlencode("a-b_c.d~e f+g&h=i/j") == "a-b_c.d%7Ee+f%2Bg%26h%3Di%2Fj", "only letters, digits and -_. pass")
        #expect(QueryForm.build([("a", ""), ("b", "1")]) == "a=&b=1")
    }

    @Test func parseNestsBracketsAndDecodes() {
        let form = QueryForm.parse("leads%5Bstatus%5D%5B0%5D%5Bid%5D=7&leads[status][0][name]=A+b%2Bc&account[id]=1")
        #expect(form["leads"]?["status"]?["0"]?["id"]?.string == "7")
        #expect(form["leads"]?["status"]?["0"]?["name"]?.string == "A b+c")
        #expect(form["account"]?["id"]?.string == "1")
        #expect(form.keys == ["leads", "account"], "keys keep their first order")
    }

    @Test func parseFollowsPHPsNameRules() {
        let form = QueryForm.parse("a.b=1&c d=2&e[f=3&g[h][i=4&j[k]x=5&=6&[x]=7&m")
        #expect(form["a_b"]?.string == "1", "a dot in the base name becomes _")
        #expect(form["c_d"]?.string == "2", "so does a space")
        #expect(form["e_f"]?.string == "3", "an unclosed [ is part of the name, as _")
        #expect(form["g"]?["h"]?.string == "4", "an unclosed later index is dropped")
        #expect(form["j"]?["k"]?.string == "5", "text after ] is dropped")
        #expect(form["m"]?.string == "", "a name alone has the empty value")
        #expect(!form.keys.contains(""), "an empty base name registers nothing")
        #expect(form.keys == ["a_b", "c_d", "e_f", "g", "j", "m"])
    }

    @Test func appendingTakesTheNextIntegerKeyAndLaterValuesWin() {
        let form = QueryForm.parse("x[]=a&x[5]=b&x[]=c&x[name]=d&x[]=e&y=1&y[z]=2&w[v]=1&w=3&k=1&k=2")
        #expect(form["x"]?.map?.keys == ["0", "5", "6", "name", "7"])
        #expect(form["x"]?["6"]?.string == "c")
        #expect(form["y"]?["z"]?.string == "2", "a map replaces a string")
        #expect(form["w"]?.string == "3", "and a string a map")
        #expect(form["k"]?.string == "2")
    }

    @Test func percentSignsThatEncodeNothingStay() {
        let form = QueryForm.parse("a=100%25&b=50%&c=%zz%4")
        #expect(form["a"]?.string == "100%")
        #expect(form["b"]?.string == "50%")
        #expect(form["c"]?.string == "%zz%4")
    }

    @Test func nestingDeeperThanPHPAllowsIsDropped() {
        let deep = "a" + String(repeating: "[x]", count: QueryForm.maxDepth + 1) + "=1"
        let ok = "b" + String(repeating: "[x]", count: QueryForm.maxDepth) + "=1"
        let form = QueryForm.parse(deep + "&" + ok)
        #expect(form["a"] == nil)
        #expect(form["b"] != nil)
    }

    @Test func aMapBuiltFromPairsReadsLikeAParsedOne() {
        let pairs = [("fields[TITLE]", "Тест"), ("fields[UF_CRM_1][]", "1"), ("fields[UF_CRM_1][]", "2")]
        #expect(QueryForm.Map(pairs: pairs) == QueryForm.parse(QueryForm.build(pairs)))
    }
}
