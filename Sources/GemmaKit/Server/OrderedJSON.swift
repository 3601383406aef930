import Foundation

/// JSON text written with its keys in the order given, for what the model reads and the grammar
/// converter follows, not for the wire (`JSONBody` writes that): the reply schema's and the tool
/// instructions' key order is meaning (the converter keeps it, so the model names the function
/// before writing its arguments), and `JSONEncoder` either sorts keys or writes them in no set
/// order. Values are JSON text already.
enum OrderedJSON {
    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { string($0.0) + ": " + $0.1 }.joined(separator: ", ") + "}"
    }

    static func array(_ items: [String]) -> String { "[" + items.joined(separator: ", ") + "]" }

    static func string(_ value: String) -> String { JSONText.quoted(value) }
}

/// JSON string literals written the way `JSONBody`'s encoder writes them (no escaped slashes).
enum JSONText {
    static func quoted(_ value: String) -> String {
        var out = ""
        appendQuoted(value, to: &out)
        return out
    }

    /// Appends `value` as a quoted JSON string: `"` and `\` and control characters are escaped,
    /// everything else (all non-ASCII text included) is copied as is.
    static func appendQuoted(_ value: String, to out: inout String) {
        out += "\""
        let utf8 = value.utf8
        // Most tokens need no escaping: copy them in one go.
        if !utf8.contains(where: needsEscape) {
            out += value
            out += "\""
            return
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count + 8)
        for byte in utf8 {
            guard needsEscape(byte) else {
                bytes.append(byte)
                continue
            }
            bytes.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            default:
                bytes += [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]]
            }
        }
        out += String(decoding: bytes, as: UTF8.self)
        out += "\""
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }
}
