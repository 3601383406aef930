/// Checks text that a length limit may have cut: whether it is the start of some JSON document.
///
/// JSON-mode tests validate every reply with it, so a reply cut at `max_tokens` is still checked
/// instead of skipped. Numbers are taken loosely (their characters, not their grammar).
enum JSONPrefix {
    static func isValid(_ text: String) -> Bool {
        var parser = Parser()
        return text.unicodeScalars.allSatisfy { parser.feed($0) }
    }

    private struct Parser {
        enum Expect { case value, valueOrClose, key, keyOrClose, colon, commaOrClose, done }
        enum Token { case none, string(isKey: Bool, escape: Int), number, literal(Substring) }

        var containers: [Character] = []  // "{" or "["
        var expect = Expect.value
        var token = Token.none

        mutating func feed(_ c: Unicode.Scalar) -> Bool {
            switch token {
            case .string(let isKey, let escape):
                if escape == 1 {
                    guard "\"\\/bfnrtu".unicodeScalars.contains(c) else { return false }
                    token = .string(isKey: isKey, escape: c == "u" ? 5 : 0)
                } else if escape > 1 {
                    guard c.properties.isASCIIHexDigit else { return false }
                    token = .string(isKey: isKey, escape: escape == 2 ? 0 : escape - 1)
                } else if c == "\\" {
                    token = .string(isKey: isKey, escape: 1)
                } else if c == "\"" {
                    token = .none
                    if isKey { expect = .colon } else { valueEnded() }
                } else if c.value < 0x20 {
                    return false
                }
                return true
            case .literal(let rest):
                guard rest.unicodeScalars.first == c else { return false }
                let left = rest.dropFirst()
                if left.isEmpty { token = .none; valueEnded() } else { token = .literal(left) }
                return true
            case .number:
                if "0123456789+-.eE".unicodeScalars.contains(c) { return true }
                token = .none
                valueEnded()
            case .none:
                break
            }
            if c == " " || c == "\n" || c == "\t" || c == "\r" { return true }
            switch expect {
            case .value, .valueOrClose:
                if c == "]", expect == .valueOrClose { return close("[") }
                switch c {
                case "{": containers.append("{"); expect = .keyOrClose
                case "[": containers.append("["); expect = .valueOrClose
                case "\"": token = .string(isKey: false, escape: 0)
                case "-", "0"..."9": token = .number
                case "t": token = .literal("rue")
                case "f": token = .literal("alse")
                case "n": token = .literal("ull")
                default: return false
                }
                return true
            case .key, .keyOrClose:
                if c == "}", expect == .keyOrClose { return close("{") }
                guard c == "\"" else { return false }
                token = .string(isKey: true, escape: 0)
                return true
            case .colon:
                guard c == ":" else { return false }
                expect = .value
                return true
            case .commaOrClose:
                if c == "," { expect = containers.last == "{" ? .key : .value; return true }
                if c == "}" { return close("{") }
                if c == "]" { return close("[") }
                return false
            case .done:
                return false
            }
        }

        private mutating func close(_ container: Character) -> Bool {
            guard containers.last == container else { return false }
            containers.removeLast()
            valueEnded()
            return true
        }

        private mutating func valueEnded() { expect = containers.isEmpty ? .done : .commaOrClose }
    }
}

import Testing

@Suite("JSON prefix check")
struct JSONPrefixTests {
    @Test func acceptsCutDocumentsAndRejectsBrokenOnes() {
        for good in ["", "{", "{\"a\"", "{\"a\": [1, tr", "{\"a\": \"x\\u00", "[{}, {\"b\": null}]", "{\"n\": -1.5e3, \"s\": \"\\\"\"}"] {
            #expect(JSONPrefix.isValid(good), "\(good)")
        }
        for bad in ["x", "{a", "{\"a\" 1", "{\"a\": tx", "[1,]", "{\"a\": 1]", "{} {", "\"\\q\"", "{\"a\":\n\"\u{1}\"}"] {
            #expect(!JSONPrefix.isValid(bad), "\(bad)")
        }
    }
}
