import Foundation
import Synchronization

/// A function call the model made.
struct ToolCall: Sendable, Equatable {
    let id: String
    let name: String
    /// Valid against the function's `parameters` (the grammar saw to it).
    let arguments: JSONValue
}

/// A whole reply split into content and calls. Without tool calling it is the text as it came.
struct ToolReply {
    var content: String
    var calls: [ToolCall]
    /// "tool_calls" when the reply called tools, else why the generation ended.
    var finishReason: String

    init(text: String, finishReason: FinishReason, tools: ToolCalling?) {
        guard tools != nil else {
            self.init(content: text, calls: [], finishReason: finishReason.rawValue)
            return
        }
        let decoder = ToolReplyDecoder()
        let streamed = decoder.feed(text)
        let end = decoder.finish(finishReason)
        self.init(content: streamed + end.content, calls: end.calls, finishReason: end.finishReason)
    }

    init(content: String, calls: [ToolCall], finishReason: String) {
        self.content = content
        self.calls = calls
        self.finishReason = finishReason
    }
}

/// Reads a constrained reply as it streams: the text of a `{"response": "…"}` is given back as it
/// comes (decoded from its JSON string), a call is held until the reply is complete and parsed.
///
/// A reply cut short (max_tokens, a stop string) never yields a call: what `feed` gave of a
/// response stands, and any other reply is given back as its raw text, with the generation's
/// finish reason (`length`).
final class ToolReplyDecoder: Sendable {
    private enum Phase {
        /// Before the reply's first key is known.
        case head
        /// Inside the response string; `escape` holds an escape sequence read in part.
        case response(escape: String, highSurrogate: UInt16?)
        /// After the response string.
        case done
        /// A call: held whole until the end.
        case call
    }

    private struct State {
        var raw = ""
        var phase = Phase.head
        var given = ""
    }

    private let state = Mutex(State())

    /// The reply's next piece of text in; out, the content to pass on now ("" for none).
    func feed(_ text: String) -> String {
        state.withLock { state in
            state.raw += text
            var out = ""
            if case .head = state.phase {
                guard let (key, rest) = Self.firstKey(state.raw) else { return "" }
                if key == "response" {
                    state.phase = .response(escape: "", highSurrogate: nil)
                    Self.decode(rest, phase: &state.phase, into: &out)
                } else {
                    state.phase = .call
                }
            } else if case .response = state.phase {
                Self.decode(Substring(text), phase: &state.phase, into: &out)
            }
            state.given += out
            return out
        }
    }

    /// The reply has ended (`reason`): the calls it made, or the content `feed` has not given yet.
    func finish(_ reason: FinishReason) -> ToolReply {
        state.withLock { state in
            let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(state.raw.utf8))
            if let reply = parsed?.objectValue {
                if case .string(let response)? = reply["response"] {
                    let rest = response.hasPrefix(state.given) ? String(response.dropFirst(state.given.count)) : ""
                    return ToolReply(content: rest, calls: [], finishReason: reason.rawValue)
                }
                let items: [JSONValue]? = reply["tool_call"].map { [$0] } ?? (reply["tool_calls"].flatMap {
                    if case .array(let items) = $0 { items } else { nil }
                })
                if let items {
                    let calls = items.compactMap { item -> ToolCall? in
                        guard let call = item.objectValue, case .string(let name)? = call["name"] else { return nil }
                        return ToolCall(id: "call_" + ResponseIdentity.randomID(), name: name, arguments: call["arguments"] ?? .object([:]))
                    }
                    if !calls.isEmpty, calls.count == items.count {
                        return ToolReply(content: "", calls: calls, finishReason: "tool_calls")
                    }
                }
            }
            // Incomplete: the response given so far stands; anything else goes back as it was written.
            switch state.phase {
            case .response, .done: return ToolReply(content: "", calls: [], finishReason: reason.rawValue)
            case .head, .call: return ToolReply(content: state.raw, calls: [], finishReason: reason.rawValue)
            }
        }
    }

    /// The reply's first key and the text after its `"key": "` opening, once both have arrived.
    /// The grammar allows only whitespace between the pieces.
    private static func firstKey(_ raw: String) -> (String, Substring)? {
        guard let match = raw.prefixMatch(of: /\s*\{\s*"([a-z_]+)"\s*:\s*/) else { return nil }
        let key = String(match.output.1)
        let rest = raw[match.range.upperBound...]
        guard key == "response" else { return (key, rest) }
        guard let quote = rest.first else { return nil }
        return quote == "\"" ? (key, rest.dropFirst()) : ("", rest)
    }

    /// Decodes JSON string text into `out` until the closing quote, keeping a partly read escape
    /// (and the high half of a `\\uD83D\\uDE00` pair) in `phase` for the next piece.
    private static func decode(_ text: Substring, phase: inout Phase, into out: inout String) {
        guard case .response(var escape, var high) = phase else { return }
        let replacement = Unicode.Scalar(0xFFFD)!
        func emit(_ scalar: Unicode.Scalar) {
            // A high surrogate not followed by its low half stands for nothing: a replacement character.
            if high != nil { out.unicodeScalars.append(replacement) }
            high = nil
            out.unicodeScalars.append(scalar)
        }
        for character in text.unicodeScalars {
            if escape.isEmpty {
                switch character {
                case "\\": escape = "\\"
                case "\"":
                    phase = .done
                    return
                default: emit(character)
                }
                continue
            }
            escape.unicodeScalars.append(character)
            if escape.unicodeScalars.count == 2, character != "u" {
                emit(simpleEscapes[character] ?? replacement)
                escape = ""
            } else if escape.unicodeScalars.count == 6 {
                let unit = UInt16(escape.dropFirst(2), radix: 16) ?? 0xFFFD
                escape = ""
                if let first = high, (0xDC00...0xDFFF).contains(unit) {
                    high = nil
                    out.unicodeScalars.append(Unicode.Scalar(0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(unit) - 0xDC00)) ?? replacement)
                } else if (0xD800...0xDBFF).contains(unit) {
                    if high != nil { out.unicodeScalars.append(replacement) }
                    high = unit
                } else {
                    emit(Unicode.Scalar(UInt32(unit)) ?? replacement)
                }
            }
        }
        phase = .response(escape: escape, highSurrogate: high)
    }

    private static let simpleEscapes: [Unicode.Scalar: Unicode.Scalar] = [
        "\"": "\"", "\\": "\\", "/": "/", "b": "\u{8}", "f": "\u{C}", "n": "\n", "r": "\r", "t": "\t",
    ]
}
