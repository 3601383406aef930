import Foundation
import Hummingbird

/// Anthropic's Messages API as the pinned llama-server serves it: `POST /v1/messages` (a message
/// whole, or its event stream) and `POST /v1/messages/count_tokens`. A request is translated into
/// the one chat model (`ChatConversation`) and rendered as a chat completion would be (the
/// template's own tool and thinking syntax where it has one, the generic JSON format otherwise);
/// the reply is written back as content blocks by `AnthropicCodec`.
struct AnthropicController: Sendable {
    let server: ServerCore

    /// What `max_tokens` is when a request leaves it out (Anthropic requires it; llama-server
    /// takes 4096 instead of refusing).
    static let defaultMaxTokens = 4096

    var endpoints: [Endpoint] {
        let pipeline = GenerationPipeline(server: server)
        return [
            pipeline.endpoint("/v1/messages") { request, _ in try await messages(request) },
            Endpoint(.post, "/v1/messages/count_tokens") { request, _ in
                let body = try await JSONBody.decode(AnthropicRequest.self, from: request, limit: server.configuration.maxBodySize)
                let rendered = try await server.render(try body.chatInput(), loaded: try await server.requireModel(named: body.model))
                return JSONBody.response(["input_tokens": rendered.tokens.count])
            },
        ]
    }

    func messages(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(AnthropicRequest.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try await server.requireModel(named: body.model)
        let rendered = try await server.render(try body.chatInput(), loaded: loaded)
        let sampling = SamplingFields(maxTokens: body.maxTokens ?? Self.defaultMaxTokens, temperature: body.temperature,
                                      topP: body.topP, topK: body.topK)
        let stopSequences = body.stopSequences ?? []
        guard stopSequences.count <= 16 else {
            throw APIError.badRequest("'stop_sequences' takes at most 16 strings, got \(stopSequences.count)", param: "stop_sequences")
        }
        var generation = GenerationRequest(prompt: rendered.tokens,
                                           sampling: try sampling.sampling(grammar: rendered.tools?.grammar, defaults: server.sampling),
                                           maxTokens: server.maxTokens(try sampling.maxTokens()), stop: stopSequences)
        try rendered.native?.prepare(&generation, model: loaded.model,
                                     thinkingBudget: try body.thinkingSettings().budget ?? server.configuration.reasoningBudget)
        let reader: ChatReplyReader
        if let native = rendered.native {
            reader = .native(try NativeReplyDecoder(native, choices: 1))
        } else if let tools = rendered.tools {
            reader = .generic(ToolReplyDecoder(), tools)
        } else {
            reader = .plain
        }
        let codec = AnthropicCodec(id: "msg_" + ResponseIdentity.randomID(), model: loaded.modelID,
                                   stopSequences: stopSequences, reader: reader)
        return .generate(GenerationPlan(request: generation, on: loaded, stream: body.stream == true,
                                        promptText: rendered.text, codec: codec))
    }
}

/// A Messages API request. Fields gemmactl cannot honour are refused naming them; `metadata`
/// and the others Anthropic's API knows (`service_tier`, `context_management`, …) are ignored,
/// as llama-server ignores them.
struct AnthropicRequest: Decodable {
    var model: String?
    var messages: [Message]
    var system: JSONValue?
    var maxTokens: Int?
    var stopSequences: [String]?
    var temperature: Double?, topP: Double?, topK: Int?
    var stream: Bool?
    var tools: [JSONValue]?
    var toolChoice: JSONValue?
    var thinking: JSONValue?
    /// llama-server passes it on, so a template's variables can be set here too.
    var chatTemplateKwargs: [String: JSONValue]?
    /// Anthropic's structured outputs (`output_format`, later `output_config.format`): not followed
    /// here, so refused rather than ignored. `output_config.effort` is ignored.
    var outputFormat: JSONValue?
    var outputConfig: JSONValue?

    struct Message: Decodable {
        var role: String
        var content: JSONValue?
    }

    enum CodingKeys: String, CodingKey {
        case model, messages, system, maxTokens = "max_tokens", stopSequences = "stop_sequences", temperature
        case topP = "top_p", topK = "top_k", stream, tools, toolChoice = "tool_choice", thinking
        case chatTemplateKwargs = "chat_template_kwargs", outputFormat = "output_format", outputConfig = "output_config"
    }

    /// The chat this request renders: `system` first, then the messages with their blocks, the
    /// tools and `tool_choice`, and `thinking`.
    func chatInput() throws -> ChatInput {
        for (field, value) in [("output_format", outputFormat), ("output_config.format", outputConfig?.objectValue?["format"])]
        where value.map({ $0 != .null }) ?? false {
            throw APIError.badRequest("'\(field)' is not supported; describe the JSON you want in the prompt, "
                + "or use /v1/chat/completions with response_format", param: field)
        }
        let system = try systemText().map { [ChatConversation.Message(role: .system, content: $0)] } ?? []
        var turns: [ChatConversation.Message] = []
        for (index, message) in messages.enumerated() { turns += try Self.messages(message, field: "messages[\(index)]") }
        let conversation = try ChatConversation(system + turns, field: "messages")
        let functions = try toolFunctions()
        let (choice, parallel) = try Self.toolChoice(toolChoice, offered: functions)
        return ChatInput(
            conversation: conversation, tools: try choice.map { try ToolCalling(offered: functions, choice: $0, parallel: false) },
            offeredTools: (tools ?? []).map(Self.openAITool), parallelToolCalls: parallel,
            kwargsJSON: chatTemplateKwargs.map { JSONValue.object($0).jsonText }, thinking: try thinkingSettings().thinks)
    }

    // MARK: System and messages

    /// `system` as one text: a string, or text blocks joined by newlines.
    private func systemText() throws(APIError) -> String? {
        switch system {
        case nil, .null?: return nil
        case .string(let text)?: return Self.normalizingBillingHeader(text)
        case .array(let blocks)?:
            var texts: [String] = []
            for (index, block) in blocks.enumerated() {
                let field = "system[\(index)]"
                guard try Self.blockType(block, field: field) == "text" else {
                    throw APIError.badRequest("'\(field).type' must be \"text\": system blocks hold text", param: "\(field).type")
                }
                texts.append(Self.normalizingBillingHeader(try Self.string(block, "text", field: field)))
            }
            return texts.joined(separator: "\n")
        default:
            throw APIError.badRequest("'system' must be a string or an array of text blocks", param: "system")
        }
    }

    /// One message of the request as chat messages: an assistant turn (text, thinking, tool_use
    /// blocks) as one message; a user turn's tool_result blocks as `tool` messages, then its text.
    private static func messages(_ message: Message, field: String) throws(APIError) -> [ChatConversation.Message] {
        let role = try ChatConversation.role(message.role, field: "\(field).role", allowed: [.user, .assistant])
        let blocks: [JSONValue]
        switch message.content {
        case .string(let text)?: return [.init(role: role, content: text)]
        case .array(let items)?: blocks = items
        case nil, .null?: throw APIError.badRequest("'\(field).content' is required", param: "\(field).content")
        default: throw APIError.badRequest("'\(field).content' must be a string or an array of content blocks", param: "\(field).content")
        }
        var texts: [String] = [], reasoning = "", calls: [ChatConversation.Call] = [], results: [ChatConversation.Message] = []
        for (index, block) in blocks.enumerated() {
            let blockField = "\(field).content[\(index)]"
            let type = try blockType(block, field: blockField)
            switch (type, role) {
            case ("text", _):
                texts.append(try string(block, "text", field: blockField))
            case ("thinking", .assistant):
                reasoning += try string(block, "thinking", field: blockField)
            case ("redacted_thinking", .assistant):
                // Another model's encrypted thinking: nothing this model can read.
                continue
            case ("tool_use", .assistant):
                let name = try string(block, "name", field: blockField)
                let input = block.objectValue?["input"] ?? .object([:])
                guard input.objectValue != nil else {
                    throw APIError.badRequest("'\(blockField).input' must be an object", param: "\(blockField).input")
                }
                calls.append(.init(id: try string(block, "id", field: blockField), name: name, arguments: input))
            case ("tool_result", .user):
                results.append(.init(role: .tool, content: try toolResultText(block, field: blockField),
                                     toolCallID: try string(block, "tool_use_id", field: blockField)))
            case ("thinking", _), ("redacted_thinking", _), ("tool_use", _), ("tool_result", _):
                let allowedRole = type == "tool_result" ? "user" : "assistant"
                throw APIError.badRequest("'\(blockField).type' \"\(type)\" blocks belong in \(allowedRole) messages", param: "\(blockField).type")
            default:
                throw unsupportedBlock(type, field: blockField)
            }
        }
        let content = texts.joined(separator: "\n")
        let turn = ChatConversation.Message(role: role, content: content, reasoning: reasoning.isEmpty ? nil : reasoning, toolCalls: calls)
        // llama-server drops a block message that holds nothing.
        return results + (texts.isEmpty && calls.isEmpty && reasoning.isEmpty ? [] : [turn])
    }

    /// A tool_result's `content`: a string, text blocks (joined as llama-server joins them), or none.
    private static func toolResultText(_ block: JSONValue, field: String) throws(APIError) -> String {
        switch block.objectValue?["content"] {
        case nil, .null?: return ""
        case .string(let text)?: return text
        case .array(let parts)?:
            var text = ""
            for (index, part) in parts.enumerated() {
                let partField = "\(field).content[\(index)]"
                let type = try blockType(part, field: partField)
                guard type == "text" else { throw unsupportedBlock(type, field: partField) }
                text += try string(part, "text", field: partField)
            }
            return text
        default:
            throw APIError.badRequest("'\(field).content' must be a string or an array of text blocks", param: "\(field).content")
        }
    }

    private static func unsupportedBlock(_ type: String, field: String) -> APIError {
        let why = type == "image" || type == "document" ? "this server's model reads text only" : "it is not a block type gemmactl knows"
        return APIError.badRequest("'\(field).type' \"\(type)\" is not supported (\(why)); send text, thinking, tool_use or tool_result blocks",
                                   param: "\(field).type")
    }

    private static func blockType(_ block: JSONValue, field: String) throws(APIError) -> String {
        guard case .string(let type)? = block.objectValue?["type"] else {
            throw APIError.badRequest("'\(field)' must be an object with a 'type'", param: field)
        }
        return type
    }

    private static func string(_ block: JSONValue, _ key: String, field: String) throws(APIError) -> String {
        guard case .string(let value)? = block.objectValue?[key] else {
            throw APIError.badRequest("'\(field).\(key)' is required and must be a string", param: "\(field).\(key)")
        }
        return value
    }

    /// Claude Code's first system block, `x-anthropic-billing-header: …; cch=XXXXX;…`, changes its
    /// `cch` on every request, so no prompt cache would get past it; as llama-server does, it is
    /// written as `fffff`. Any other text is left alone.
    static func normalizingBillingHeader(_ text: String) -> String {
        let prefix = "x-anthropic-billing-header:"
        guard text.hasPrefix(prefix), let marker = text.range(of: "cch=", range: text.index(text.startIndex, offsetBy: prefix.count)..<text.endIndex)
        else { return text }
        let stamp = marker.upperBound..<(text.index(marker.upperBound, offsetBy: 5, limitedBy: text.endIndex) ?? text.endIndex)
        guard text.distance(from: stamp.lowerBound, to: stamp.upperBound) == 5, text[stamp.upperBound...].first == ";" else { return text }
        return text.replacingCharacters(in: stamp, with: "fffff")
    }

    // MARK: Tools and thinking

    /// `tools`: `{name, description, input_schema}` each, checked as OpenAI's functions are.
    private func toolFunctions() throws -> [ToolCalling.Function] {
        var functions: [ToolCalling.Function] = []
        for (index, tool) in (tools ?? []).enumerated() {
            let field = "tools[\(index)]"
            guard let entry = tool.objectValue else {
                throw APIError.badRequest("'\(field)' must be an object: {\"name\": …, \"input_schema\": {…}}", param: field)
            }
            if let type = entry["type"], type != .null, type != .string("custom") {
                throw APIError.badRequest("'\(field).type' \(type.jsonText) is not supported: only client tools "
                    + "({\"name\", \"description\", \"input_schema\"}) are, which the caller runs", param: "\(field).type")
            }
            guard case .string(let name)? = entry["name"], ToolCalling.isFunctionName(name) else {
                throw APIError.badRequest("'\(field).name' must be 1 to 64 letters, digits, '_' or '-'", param: "\(field).name")
            }
            guard !functions.contains(where: { $0.name == name }) else {
                throw APIError.badRequest("'\(field).name' repeats \"\(name)\"; each tool needs its own name", param: "\(field).name")
            }
            var description: String?
            switch entry["description"] {
            case nil, .null?: break
            case .string(let text)?: description = text
            default: throw APIError.badRequest("'\(field).description' must be a string", param: "\(field).description")
            }
            let parameters = try ToolCalling.parameters(entry["input_schema"], field: "\(field).input_schema")
            functions.append(.init(name: name, description: description, parameters: parameters))
        }
        return functions
    }

    /// A tool as llama-server hands it to the template: an OpenAI function whose description is
    /// "" when there is none and whose parameters are the input schema ({} when there is none).
    private static func openAITool(_ tool: JSONValue) -> JSONValue {
        let entry = tool.objectValue ?? [:]
        var description = JSONValue.string("")
        if case .string? = entry["description"] { description = entry["description"]! }
        return .object(["type": .string("function"), "function": .object([
            "name": entry["name"] ?? .string(""), "description": description,
            "parameters": entry["input_schema"].flatMap { $0 == .null ? nil : $0 } ?? .object([:]),
        ])])
    }

    /// `tool_choice`: `auto` (the default), `any` (some tool), `tool` with a `name`, or `none`; and
    /// `disable_parallel_tool_use`, for templates that can write several calls. nil: no call.
    private static func toolChoice(_ value: JSONValue?, offered: [ToolCalling.Function]) throws(APIError)
        -> (ToolCalling.Choice?, parallel: Bool?) {
        guard let value, value != .null else { return (offered.isEmpty ? nil : .auto, nil) }
        guard let object = value.objectValue, case .string(let type)? = object["type"] else {
            throw APIError.badRequest("'tool_choice' must be an object: {\"type\": \"auto\" | \"any\" | \"tool\" | \"none\"}", param: "tool_choice")
        }
        var parallel: Bool?
        if case .bool(let disabled)? = object["disable_parallel_tool_use"] { parallel = !disabled }
        switch type {
        case "none": return (nil, parallel)
        case "auto": return (offered.isEmpty ? nil : .auto, parallel)
        case "any", "tool":
            guard !offered.isEmpty else {
                throw APIError.badRequest("'tool_choice' is \"\(type)\" but no 'tools' were sent; send the tools the reply may call",
                                          param: "tool_choice")
            }
            guard type == "tool" else { return (.required, parallel) }
            guard case .string(let name)? = object["name"] else {
                throw APIError.badRequest("'tool_choice.name' is required: the name of the tool to call", param: "tool_choice.name")
            }
            guard offered.contains(where: { $0.name == name }) else {
                throw APIError.badRequest("'tool_choice.name' is \"\(name)\", which is not one of the 'tools' ("
                    + offered.map(\.name).joined(separator: ", ") + ")", param: "tool_choice.name")
            }
            return (.function(name), parallel)
        default:
            throw APIError.badRequest("'tool_choice.type' must be \"auto\", \"any\", \"tool\" or \"none\", got \"\(type)\"",
                                      param: "tool_choice.type")
        }
    }

    /// `thinking`: `{"type": "enabled", "budget_tokens": N}` leaves thinking as the template has it
    /// (on where it can think, as llama-server) and caps it at N tokens, as llama-server's
    /// `thinking_budget_tokens`; `{"type": "disabled"}` turns it off. nil: as the server has it.
    func thinkingSettings() throws(APIError) -> (thinks: Bool?, budget: Int?) {
        guard let thinking, thinking != .null else { return (nil, nil) }
        guard let object = thinking.objectValue, case .string(let type)? = object["type"] else {
            throw APIError.badRequest("'thinking' must be an object: {\"type\": \"enabled\", \"budget_tokens\": N} or {\"type\": \"disabled\"}",
                                      param: "thinking")
        }
        switch type {
        case "enabled":
            guard let budget = object["budget_tokens"], budget != .null else { return (nil, nil) }
            guard case .integer(let tokens) = budget, tokens >= 0, tokens <= Int32.max else {
                throw APIError.badRequest("'thinking.budget_tokens' must be a whole number of tokens, 0 or more", param: "thinking.budget_tokens")
            }
            return (nil, Int(tokens))
        case "disabled":
            return (false, nil)
        default:
            throw APIError.badRequest("'thinking.type' must be \"enabled\" or \"disabled\", got \"\(type)\"", param: "thinking.type")
        }
    }
}
