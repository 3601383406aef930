/// Joins token bytes into text without ever splitting a UTF-8 character: bytes of a character
/// that continues in the next token are held back until it is complete.
struct UTF8StreamDecoder {
    private var pending: [UInt8] = []

    /// Adds `bytes` and returns the text that is complete so far.
    mutating func append(_ bytes: [UInt8]) -> String {
        pending.append(contentsOf: bytes)
        let cut = Self.completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    var isEmpty: Bool { pending.isEmpty }

    /// Whatever is left at the end (an unfinished character becomes U+FFFD, as it must).
    mutating func finish() -> String {
        defer { pending = [] }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Length of `bytes` without a trailing, still incomplete, multi-byte sequence.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        // Look back at most 3 bytes for the lead byte of the last character.
        var i = n - 1
        while i >= 0, i >= n - 4 {
            let byte = bytes[i]
            if byte & 0b1100_0000 != 0b1000_0000 {  // a lead byte or ASCII
                let needed: Int
                switch byte {
                case 0..<0x80: needed = 1
                case 0xC0..<0xE0: needed = 2
                case 0xE0..<0xF0: needed = 3
                case 0xF0..<0xF8: needed = 4
                default: needed = 1  // invalid lead: let the decoder replace it
                }
                return n - i >= needed ? n : i
            }
            i -= 1
        }
        return n
    }
}

/// Finds stop strings in streamed text. Text that could be the start of a stop string is held
/// back until it is clear either way, so a stop string never leaks into the output.
struct StopStringMatcher {
    let stops: [String]
    private var held = ""
    /// The stop string found, once `feed` has returned `stopped`.
    private(set) var matched: String?

    init(_ stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    enum Result: Equatable {
        /// Text safe to emit now.
        case text(String)
        /// A stop string was found: emit this last text, then stop.
        case stopped(String)
    }

    mutating func feed(_ text: String) -> Result {
        guard !stops.isEmpty else { return .text(text) }
        held += text
        var earliest: String.Index?
        for stop in stops {
            if let range = held.range(of: stop), earliest.map({ range.lowerBound < $0 }) ?? true {
                earliest = range.lowerBound
                matched = stop
            }
        }
        if let earliest {
            let before = String(held[..<earliest])
            held = ""
            return .stopped(before)
        }
        // Keep the longest suffix of `held` that is a prefix of some stop string.
        var keep = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, held.count), to: keep, by: -1)
            where held.hasSuffix(stop.prefix(length)) {
                keep = length
                break
            }
        }
        let emitEnd = held.index(held.endIndex, offsetBy: -keep)
        let emit = String(held[..<emitEnd])
        held = String(held[emitEnd...])
        return .text(emit)
    }

    /// Held text once generation ends for another reason.
    mutating func flush() -> String {
        defer { held = "" }
        return held
    }
}
