import Foundation

/// A streamed chunk whose only per-token part is its text. The JSON around the text is encoded
/// once per request, by the same `Encodable` types as every other response, and each token only
/// escapes its text into the gap. Foundation's `JSONEncoder` builds and sorts a whole object tree
/// per call, which on a 2-core machine is CPU taken from the decode threads once per token.
struct TextChunkTemplate: Sendable {
    private let parts: (prefix: String, suffix: String)?
    private let encodeWhole: @Sendable (String) -> String

    /// `chunk` builds the chunk for a given text; it is called once here with a marker text, and
    /// again per token only if the marker could not be found (then every chunk is encoded whole).
    init<Chunk: Encodable>(_ chunk: @escaping @Sendable (String) -> Chunk) {
        encodeWhole = { JSONBody.string(chunk($0)) }
        let marker = "gemmactl-text-" + UUID().uuidString
        let pieces = JSONBody.string(chunk(marker)).components(separatedBy: JSONText.quoted(marker))
        parts = pieces.count == 2 ? (pieces[0], pieces[1]) : nil
    }

    /// The chunk's JSON for `text`, byte for byte what `JSONBody.string` gives for it.
    func json(_ text: String) -> String {
        guard let parts else { return encodeWhole(text) }
        var out = parts.prefix
        out.reserveCapacity(parts.prefix.utf8.count + text.utf8.count + parts.suffix.utf8.count + 8)
        JSONText.appendQuoted(text, to: &out)
        out += parts.suffix
        return out
    }
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
