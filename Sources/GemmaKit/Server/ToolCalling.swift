import Foundation

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
/// chat with it (`ChatConversation.templateMessages`), and turn the reply back into content and
/// calls with `ToolReply` (whole) or `ToolReplyDecoder` (streamed). The reply's schema is in
/// `ToolReplySchema.swift`.
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
        try self.init(offered: offered, choice: choice, parallel: parallel)
    }

    /// Tool calling over functions already read and checked from a request (`choice` names one of
    /// them when it names a function): the reply's grammar.
    init(offered: [Function], choice: Choice, parallel: Bool) throws {
        let callable: [Function]
        if case .function(let name) = choice { callable = offered.filter { $0.name == name } } else { callable = offered }
        functions = callable
        self.choice = choice
        self.parallel = parallel
        grammar = try StructuredOutput.grammar(schemaText: Self.replySchema(callable, choice: choice, parallel: parallel), field: "tools")
    }

    // MARK: Validation

    /// OpenAI's (and Anthropic's) rule for function names: 1 to 64 of a-z, A-Z, 0-9, `_` and `-`.
    static func isFunctionName(_ name: String) -> Bool {
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
    static func parameters(_ value: JSONValue?, field: String) throws -> JSONValue {
        guard let value, value != .null else { return .object(["type": .string("object"), "properties": .object([:])]) }
        guard let schema = value.objectValue, [nil, .string("object")].contains(schema["type"]) else {
            throw APIError.badRequest("'\(field)' must be a JSON Schema for an object ({\"type\": \"object\", \"properties\": {…}})",
                                      param: field)
        }
        _ = try StructuredOutput.grammar(schema: ClientJSON(value), field: field)
        return value
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
        if let format = format?.value, format != .null, format != .string("") {
            throw APIError.badRequest("'format' cannot be combined with 'tools': a reply calls a tool or answers in text; send one of them",
                                      param: "format")
        }
        return tools
    }
}
