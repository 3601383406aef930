import Foundation
import Synchronization

/// Tool calls for a model without tool-call tokens of its own (Gemma 3), in the "generic" way
/// llama.cpp handles such models: the tools are described in the prompt, and the reply is
/// constrained by a grammar to one JSON object, either a call naming a function with arguments
/// valid against that function's `parameters`, or (where `tool_choice` allows) a plain answer:
///
///     {"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}
///     {"tool_calls": [{"name": …, "arguments": {…}}, …]}     (parallel_tool_calls: true)
///     {"response": "It is sunny."}                            (tool_choice auto)
///
/// Used by both chat APIs: they validate their request fields into a `ToolCalling`, render the
/// chat with `chatMessages`, and turn the reply back into content and calls with `ToolReply`
/// (whole) or `ToolReplyDecoder` (streamed).
struct ToolCalling: Sendable {
    /// One offered function, validated.
    struct Function: Sendable {
        let name: String
        let description: String?
        let parameters: JSONValue
    }

    enum Choice: Sendable, Equatable {
        /// A call or a plain answer, as the model sees fit.
        case auto
        /// One or more calls, of any offered function.
        case required
        /// A call of this function.
        case function(String)
    }

    /// The functions the reply may call (only the named one for `.function`).
    let functions: [Function]
    let choice: Choice
    /// Whether the reply is a `tool_calls` array rather than one `tool_call`.
    let parallel: Bool
    /// The GBNF grammar every reply must follow.
    let grammar: String

    /// Validates the offered `tools` and `tool_choice` (errors are 400s naming the request field)
    /// and builds the reply's grammar; nil when no tool can be called (none offered, or `"none"`).
    init?(tools: [JSONValue]?, choice rawChoice: JSONValue?, parallel: Bool) throws {
        let offered = try Self.functions(tools ?? [])
        let choice: Choice
        switch rawChoice ?? .null {
        case .null, .string("auto"):
            guard !offered.isEmpty else { return nil }
            choice = .auto
        case .string("none"):
            return nil
        case .string("required"):
            guard !offered.isEmpty else {
                throw APIError.badRequest("'tool_choice' is \"required\" but no 'tools' were sent; send the tools the reply may call",
                                          param: "tool_choice")
            }
            choice = .required
        case .object(let object) where object["type"] == .string("function"):
            guard case .string(let name)? = object["function"]?.objectValue?["name"] else {
                throw APIError.badRequest("'tool_choice.function.name' is required: the name of the function to call",
                                          param: "tool_choice.function.name")
            }
            guard offered.contains(where: { $0.name == name }) else {
                throw APIError.badRequest("'tool_choice.function.name' is \"\(name)\", which is not one of the 'tools' ("
                    + (offered.isEmpty ? "none were sent" : offered.map(\.name).joined(separator: ", ")) + ")",
                    param: "tool_choice.function.name")
            }
            choice = .function(name)
        default:
            throw APIError.badRequest("'tool_choice' must be \"none\", \"auto\", \"required\" or "
                + "{\"type\": \"function\", \"function\": {\"name\": …}}", param: "tool_choice")
        }
        let callable: [Function]
        if case .function(let name) = choice { callable = offered.filter { $0.name == name } } else { callable = offered }
        functions = callable
        self.choice = choice
        self.parallel = parallel
        do {
            grammar = try JSONSchemaGrammar.grammar(schema: Self.replySchema(callable, choice: choice, parallel: parallel))
        } catch {
            throw APIError.badRequest("'tools' could not be combined into one reply schema: \(error.message)", param: "tools")
        }
    }

    // MARK: Validation

    /// OpenAI's rule for function names: 1 to 64 of a-z, A-Z, 0-9, `_` and `-`.
    private static func isFunctionName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// The functions of `tools`, each checked as OpenAI does; an error names the entry's field.
    static func functions(_ tools: [JSONValue]) throws -> [Function] {
        var functions: [Function] = []
        for (index, tool) in tools.enumerated() {
            let field = "tools[\(index)]"
            guard let entry = tool.objectValue else {
                throw APIError.badRequest("'\(field)' must be an object: {\"type\": \"function\", \"function\": {…}}", param: field)
            }
            guard entry["type"] == .string("function") else {
                throw APIError.badRequest("'\(field).type' must be \"function\" (the only kind of tool there is)", param: "\(field).type")
            }
            guard let function = entry["function"]?.objectValue else {
                throw APIError.badRequest("'\(field).function' is required: {\"name\": …, \"parameters\": {…}}", param: "\(field).function")
            }
            guard case .string(let name)? = function["name"], isFunctionName(name) else {
                throw APIError.badRequest("'\(field).function.name' must be 1 to 64 letters, digits, '_' or '-'",
                                          param: "\(field).function.name")
            }
            guard !functions.contains(where: { $0.name == name }) else {
                throw APIError.badRequest("'\(field).function.name' repeats \"\(name)\"; each tool needs its own name",
                                          param: "\(field).function.name")
            }
            var description: String?
            switch function["description"] {
            case nil, .null?: break
            case .string(let text)?: description = text
            default:
                throw APIError.badRequest("'\(field).function.description' must be a string", param: "\(field).function.description")
            }
            let parameters = try Self.parameters(function["parameters"], field: "\(field).function.parameters")
            functions.append(Function(name: name, description: description, parameters: parameters))
        }
        return functions
    }

    /// A function's `parameters`: an object schema the converter can follow (absent: no arguments).
    private static func parameters(_ value: JSONValue?, field: String) throws -> JSONValue {
        guard let value, value != .null else { return .object(["type": .string("object"), "properties": .object([:])]) }
        guard let schema = value.objectValue, [nil, .string("object")].contains(schema["type"]) else {
            throw APIError.badRequest("'\(field)' must be a JSON Schema for an object ({\"type\": \"object\", \"properties\": {…}})",
                                      param: field)
        }
        _ = try StructuredOutput.grammar(schema: value, field: field)
        return value
    }

    // MARK: The reply's schema

    /// The one JSON Schema every reply follows. Key order matters (the converter keeps it, and the
    /// model should name the function before writing its arguments), so the text is written here
    /// rather than by `JSONValue`, which sorts keys. Each function's `parameters` goes under
    /// `$defs`, its own `$ref`s rewritten to point there.
    static func replySchema(_ functions: [Function], choice: Choice, parallel: Bool) -> String {
        let calls = functions.enumerated().map { index, function in
            OrderedJSON.object([
                ("type", OrderedJSON.string("object")),
                ("properties", OrderedJSON.object([
                    ("name", OrderedJSON.object([("const", OrderedJSON.string(function.name))])),
                    ("arguments", OrderedJSON.object([("$ref", OrderedJSON.string("#/$defs/\(definition(index))"))])),
                ])),
                ("required", #"["name", "arguments"]"#),
            ])
        }
        let call = calls.count == 1 ? calls[0] : OrderedJSON.object([("anyOf", OrderedJSON.array(calls))])
        let toolCall = parallel
            ? OrderedJSON.object([
                ("type", OrderedJSON.string("object")),
                ("properties", OrderedJSON.object([("tool_calls", OrderedJSON.object([
                    ("type", OrderedJSON.string("array")), ("items", call), ("minItems", "1"),
                ]))])),
                ("required", #"["tool_calls"]"#),
            ])
            : OrderedJSON.object([
                ("type", OrderedJSON.string("object")),
                ("properties", OrderedJSON.object([("tool_call", call)])),
                ("required", #"["tool_call"]"#),
            ])
        let response = #"{"type": "object", "properties": {"response": {"type": "string"}}, "required": ["response"]}"#
        let definitions = OrderedJSON.object(functions.enumerated().map { index, function in
            (definition(index), rebased(function.parameters, under: "#/$defs/\(definition(index))").jsonText)
        })
        let alternatives = choice == .auto ? [toolCall, response] : [toolCall]
        return OrderedJSON.object([("anyOf", OrderedJSON.array(alternatives)), ("$defs", definitions)])
    }

    private static func definition(_ index: Int) -> String { "tool-\(index)" }

    /// `schema` with each local `$ref` ("#/…") pointing into `base` instead of the root.
    private static func rebased(_ schema: JSONValue, under base: String) -> JSONValue {
        switch schema {
        case .object(let object):
            var copy: [String: JSONValue] = [:]
            for (key, value) in object {
                if key == "$ref", case .string(let ref) = value, ref.hasPrefix("#/") {
                    copy[key] = .string(base + ref.dropFirst())
                } else {
                    copy[key] = rebased(value, under: base)
                }
            }
            return .object(copy)
        case .array(let items):
            return .array(items.map { rebased($0, under: base) })
        default:
            return schema
        }
    }

    // MARK: The prompt

    /// What the model is told: the tools and the JSON its reply must be.
    var instructions: String {
        let tools = OrderedJSON.array(functions.map { function in
            OrderedJSON.object([("name", OrderedJSON.string(function.name))]
                + (function.description.map { [("description", OrderedJSON.string($0))] } ?? [])
                + [("parameters", function.parameters.jsonText)])
        })
        let call = #"{"name": "<the tool's name>", "arguments": {<its arguments>}}"#
        let callReply = parallel ? #"{"tool_calls": ["# + call + ", …]}" : #"{"tool_call": "# + call + "}"
        var text = "You have these tools, described as JSON:\n" + tools + "\n\n"
        switch choice {
        case .auto:
            text += "Reply with one JSON object and nothing else: to call "
                + (parallel ? "tools, " : "a tool, ") + callReply + "; to answer the user yourself, {\"response\": \"<your answer>\"}."
        case .required:
            text += "Call " + (parallel ? "one or more tools" : "a tool") + ": reply with one JSON object and nothing else, " + callReply + "."
        case .function(let name):
            text += "Call the tool \"\(name)\": reply with one JSON object and nothing else, " + callReply + "."
        }
        return text + "\nA tool's result comes back as {\"tool_result\": {\"name\": …, \"content\": …}}; use it in your answer."
    }

    /// The chat as the model sees it: tool definitions and instructions in the system prompt,
    /// an assistant turn that called tools as the JSON it wrote (and, while tools are offered, one
    /// that answered as `{"response": …}`, as it was written), a `tool` turn as a user turn
    /// holding `{"tool_result": …}` (consecutive results in one turn), `developer` as `system`.
    /// Works for OpenAI's and Ollama's message shapes; errors name the message's field.
    static func chatMessages(_ messages: [ChatMessageBody], tools: ToolCalling?) throws -> [ChatMessage] {
        var rendered: [ChatMessage] = []
        var callNames: [String: String] = [:]
        var previousWasTool = false
        for (index, message) in messages.enumerated() {
            let content = message.content?.text ?? ""
            switch message.role {
            case "tool":
                let name = message.name ?? message.toolName ?? message.toolCallID.flatMap { callNames[$0] }
                let result = OrderedJSON.object([("tool_result", OrderedJSON.object(
                    (name.map { [("name", OrderedJSON.string($0))] } ?? [])
                        + [("content", Self.embedded(content))]))])
                if previousWasTool, let last = rendered.indices.last {
                    rendered[last].content += "\n" + result
                } else {
                    rendered.append(ChatMessage(role: "user", content: result))
                }
                previousWasTool = true
                continue
            case "assistant" where !(message.toolCalls ?? []).isEmpty:
                let calls = try Self.historyCalls(message.toolCalls ?? [], field: "messages[\(index)].tool_calls")
                for call in calls { if let id = call.id { callNames[id] = call.name } }
                let written = calls.count == 1
                    ? OrderedJSON.object([("tool_call", calls[0].json)])
                    : OrderedJSON.object([("tool_calls", OrderedJSON.array(calls.map(\.json)))])
                rendered.append(ChatMessage(role: "assistant", content: content.isEmpty ? written : content + "\n" + written))
            case "assistant" where tools != nil && !content.isEmpty:
                // What the model wrote when it answered under the same constraint.
                rendered.append(ChatMessage(role: "assistant", content: OrderedJSON.object([("response", OrderedJSON.string(content))])))
            case "developer":
                rendered.append(ChatMessage(role: "system", content: content))
            default:
                rendered.append(ChatMessage(role: message.role, content: content))
            }
            previousWasTool = false
        }
        guard let tools else { return rendered }
        if let first = rendered.first, first.role == "system" {
            rendered[0].content = first.content.isEmpty ? tools.instructions : first.content + "\n\n" + tools.instructions
        } else {
            rendered.insert(ChatMessage(role: "system", content: tools.instructions), at: 0)
        }
        return rendered
    }

    /// A call an earlier assistant turn made, as the history carries it.
    private struct HistoryCall {
        let id: String?
        let name: String
        let arguments: JSONValue
        var json: String { OrderedJSON.object([("name", OrderedJSON.string(name)), ("arguments", arguments.jsonText)]) }
    }

    /// OpenAI sends `arguments` as JSON text, Ollama as an object; both are accepted.
    private static func historyCalls(_ calls: [JSONValue], field: String) throws -> [HistoryCall] {
        try calls.enumerated().map { index, call in
            guard let function = call.objectValue?["function"]?.objectValue, case .string(let name)? = function["name"] else {
                throw APIError.badRequest("'\(field)[\(index)].function.name' is required", param: "\(field)[\(index)].function.name")
            }
            var id: String?
            if case .string(let value)? = call.objectValue?["id"] { id = value }
            let arguments: JSONValue
            switch function["arguments"] {
            case nil, .null?: arguments = .object([:])
            case .string(let text)?: arguments = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string(text)
            case let value?: arguments = value
            }
            return HistoryCall(id: id, name: name, arguments: arguments)
        }
    }

    /// Tool output as JSON: itself when it is JSON, else a string.
    private static func embedded(_ content: String) -> String {
        if let value = try? JSONDecoder().decode(JSONValue.self, from: Data(content.utf8)) { return value.jsonText }
        return OrderedJSON.string(content)
    }
}

extension ChatCompletionRequest {
    /// The tool calling this request asks for; nil when it can call none. `response_format` and
    /// `logprobs` cannot go with it (the reply is the tool-call JSON, read back before it is sent).
    func toolCalling() throws -> ToolCalling? {
        guard let tools = try ToolCalling(tools: tools, choice: toolChoice, parallel: parallelToolCalls == true) else { return nil }
        if let responseFormat, responseFormat.type != "text" {
            throw APIError.badRequest("'response_format' cannot be combined with 'tools': a reply calls a tool or answers in text; "
                + "send one of them, or tool_choice \"none\"", param: "response_format")
        }
        if logprobs == true {
            throw APIError.badRequest("'logprobs' is not supported together with 'tools'; leave one of them out", param: "logprobs")
        }
        return tools
    }
}

extension OllamaController.ChatBody {
    /// The tool calling Ollama's `tools` asks for (Ollama has no `tool_choice`: the model decides);
    /// `format` cannot go with it.
    func toolCalling() throws -> ToolCalling? {
        guard let tools = try ToolCalling(tools: tools, choice: nil, parallel: false) else { return nil }
        if let format, format != .null, format != .string("") {
            throw APIError.badRequest("'format' cannot be combined with 'tools': a reply calls a tool or answers in text; send one of them",
                                      param: "format")
        }
        return tools
    }
}

// MARK: - The reply

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

// MARK: - Wire shapes

/// A call in OpenAI's shape: in a message (`index` nil) or in a streamed delta.
struct OpenAIToolCall: Encodable {
    var index: Int?
    let id: String
    let type = "function"
    let function: Function

    struct Function: Encodable {
        let name: String
        /// JSON text, as OpenAI sends it.
        let arguments: String
    }

    init(_ call: ToolCall, index: Int? = nil) {
        self.index = index
        id = call.id
        function = Function(name: call.name, arguments: call.arguments.jsonText)
    }
}

extension ToolCall {
    /// Ollama's shape: arguments as an object.
    var ollama: [String: Any] { ["function": ["name": name, "arguments": arguments.foundationValue]] }
}

/// JSON text written with its keys in the order given (`JSONValue.jsonText` sorts them); values
/// are JSON text already.
enum OrderedJSON {
    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { string($0.0) + ": " + $0.1 }.joined(separator: ", ") + "}"
    }

    static func array(_ items: [String]) -> String { "[" + items.joined(separator: ", ") + "]" }

    static func string(_ value: String) -> String { JSONText.quoted(value) }
}
