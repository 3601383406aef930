import Foundation

/// A string, or an array of strings (OpenAI's `stop`, `input`, `prompt`).
struct StringOrArray: Decodable, Equatable {
    var values: [String]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let single = try? container.decode(String.self) {
            values = [single]
        } else if let many = try? container.decode([String].self) {
            values = many
        } else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath,
                                                                debugDescription: "expected a string or an array of strings"))
        }
    }
}

/// Message content: a string or an array of `{"type":"text","text":…}` parts.
struct MessageContent: Decodable, Equatable {
    var text: String

    private struct Part: Decodable {
        var type: String
        var text: String?
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            text = ""
        } else if let string = try? container.decode(String.self) {
            text = string
        } else if let parts = try? container.decode([Part].self) {
            if let other = parts.first(where: { $0.type != "text" }) {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "content part type '\(other.type)' is not supported; only 'text' parts are"))
            }
            text = parts.compactMap(\.text).joined(separator: "\n")
        } else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath,
                                                                debugDescription: "expected a string or an array of text parts"))
        }
    }
}

/// One message of a chat request, OpenAI's or Ollama's, as it comes (see `ChatConversation`).
struct ChatMessageBody: Decodable {
    var role: String
    var content: MessageContent?
    /// An assistant turn's calls: `[{"id":…, "function": {"name":…, "arguments":…}}]`.
    var toolCalls: [JSONValue]?
    /// A `tool` turn's call (OpenAI).
    var toolCallID: String?
    /// A `tool` turn's function: OpenAI's `name`, Ollama's `tool_name`.
    var name: String?
    var toolName: String?
    /// An assistant turn's reasoning: OpenAI's (llama-server's) `reasoning_content`, Ollama's `thinking`.
    var reasoningContent: String?
    var thinking: String?

    enum CodingKeys: String, CodingKey {
        case role, content, toolCalls = "tool_calls", toolCallID = "tool_call_id", name, toolName = "tool_name"
        case reasoningContent = "reasoning_content", thinking
    }
}

/// Sampling and length fields shared by chat and completions.
struct SamplingFields: Decodable {
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var minP: Double?
    var seed: Int64?
    var stop: StringOrArray?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var repeatPenalty: Double?
    var n: Int?
    var stream: Bool?
    var streamOptions: StreamOptions?

    struct StreamOptions: Decodable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    enum CodingKeys: String, CodingKey {
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", temperature
        case topP = "top_p", topK = "top_k", minP = "min_p", seed, stop
        case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty", repeatPenalty = "repeat_penalty"
        case n, stream, streamOptions = "stream_options"
    }

    /// Validates and converts to engine parameters over the server's `defaults`; errors name the
    /// field. A seed of -1 is a random one, as llama-server.
    func sampling(grammar: String? = nil, defaults: SamplingParameters) throws -> SamplingParameters {
        if let seed, seed < -1 { throw APIError.badRequest("'seed' must be 0 or more (or -1 for a random one), got \(seed)", param: "seed") }
        let parameters = defaults.overriding(
            temperature: temperature, topK: topK, topP: topP, minP: minP, repeatPenalty: repeatPenalty,
            presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty,
            seed: seed.flatMap { $0 == -1 ? nil : UInt32(truncatingIfNeeded: $0) }, grammar: grammar)
        do { try parameters.validate() } catch { throw APIError(error) }
        return parameters
    }

    func maxTokens(field: String = "max_tokens") throws -> Int? {
        let value = maxCompletionTokens ?? maxTokens
        if let value, value < 0 {
            throw APIError.badRequest("'\(maxCompletionTokens != nil ? "max_completion_tokens" : field)' must be 0 or more, got \(value)",
                                      param: field)
        }
        return value
    }

    func stopStrings() throws -> [String] {
        let stops = stop?.values ?? []
        guard stops.count <= 16 else { throw APIError.badRequest("'stop' takes at most 16 strings, got \(stops.count)", param: "stop") }
        return stops
    }
}

struct ChatCompletionRequest: Decodable {
    var model: String?
    var messages: [ChatMessageBody]
    var sampling: SamplingFields
    var llama: LlamaRequestFields
    var responseFormat: ResponseFormat?
    var logprobs: Bool?
    var topLogprobs: Int?
    var tools: [JSONValue]?
    /// Each of `tools` in the client's own text (keys in its order), when the body could be read so.
    var toolTexts: [String]?
    var toolChoice: JSONValue?
    var parallelToolCalls: Bool?
    var template: ChatTemplateFields
    /// llama-server's per-request `reasoning_format` (nil: the server's, `auto`).
    var reasoningFormat: ReasoningFormat?
    /// OpenAI's `reasoning_effort`, passed to a template that reads it (`none` turns thinking off).
    var reasoningEffort: String?
    /// llama-server's `reasoning_budget_tokens` (or `thinking_budget_tokens`): most tokens the reply
    /// may think; nil (or -1): the server's `--reasoning-budget`.
    var thinkingBudget: Int?

    struct ResponseFormat: Decodable {
        var type: String
        var jsonSchema: JSONSchemaFormat?
        /// llama-server's extension: `json_object` with a schema.
        var schema: ClientJSON?

        struct JSONSchemaFormat: Decodable {
            var name: String?
            var description: String?
            var schema: ClientJSON?
            /// Always honoured: the reply is constrained to the schema whatever this says.
            var strict: Bool?
        }

        enum CodingKeys: String, CodingKey { case type, jsonSchema = "json_schema", schema }
    }

    enum CodingKeys: String, CodingKey {
        case model, messages, responseFormat = "response_format", logprobs, topLogprobs = "top_logprobs"
        case tools, toolChoice = "tool_choice", parallelToolCalls = "parallel_tool_calls"
        case reasoningFormat = "reasoning_format", reasoningEffort = "reasoning_effort"
        case reasoningBudgetTokens = "reasoning_budget_tokens", thinkingBudgetTokens = "thinking_budget_tokens"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        messages = try container.decode([ChatMessageBody].self, forKey: .messages)
        template = try ChatTemplateFields(from: decoder)
        responseFormat = try container.decodeIfPresent(ResponseFormat.self, forKey: .responseFormat)
        logprobs = try container.decodeIfPresent(Bool.self, forKey: .logprobs)
        topLogprobs = try container.decodeIfPresent(Int.self, forKey: .topLogprobs)
        tools = try container.decodeIfPresent([JSONValue].self, forKey: .tools)
        if let tools, let body = decoder.userInfo[JSONBody.rawBody] as? Data,
           let texts = JSONSpans.member("tools", in: body).flatMap(JSONSpans.elements), texts.count == tools.count,
           zip(texts, tools).allSatisfy({ (try? JSONDecoder().decode(JSONValue.self, from: $0)) == $1 }) {
            toolTexts = texts.map { String(decoding: $0, as: UTF8.self) }
        }
        toolChoice = try container.decodeIfPresent(JSONValue.self, forKey: .toolChoice)
        parallelToolCalls = try container.decodeIfPresent(Bool.self, forKey: .parallelToolCalls)
        if let format = try container.decodeIfPresent(String.self, forKey: .reasoningFormat) {
            guard let known = ReasoningFormat(rawValue: format) else {
                let names = ReasoningFormat.allCases.map(\.rawValue)
                throw APIError.badRequest("'reasoning_format' must be \(names.dropLast().joined(separator: ", ")) or \(names.last ?? ""), got '\(format)'",
                                          param: "reasoning_format")
            }
            reasoningFormat = known
        }
        reasoningEffort = try container.decodeIfPresent(String.self, forKey: .reasoningEffort)
        for key in [CodingKeys.reasoningBudgetTokens, .thinkingBudgetTokens] where thinkingBudget == nil {
            guard let budget = try container.decodeIfPresent(Int.self, forKey: key), budget != -1 else { continue }
            guard budget >= 0 else {
                throw APIError.badRequest("'\(key.rawValue)' must be 0 or more (or -1 for the server's --reasoning-budget), got \(budget)", param: key.rawValue)
            }
            thinkingBudget = budget
        }
        sampling = try SamplingFields(from: decoder)
        llama = try LlamaRequestFields(from: decoder)
    }
}

struct CompletionRequest: Decodable {
    var model: String?
    var prompt: StringOrArray
    var sampling: SamplingFields
    var llama: LlamaRequestFields
    var logprobs: Int?
    var echo: Bool?

    enum CodingKeys: String, CodingKey { case model, prompt, logprobs, echo }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        prompt = try container.decode(StringOrArray.self, forKey: .prompt)
        logprobs = try container.decodeIfPresent(Int.self, forKey: .logprobs)
        echo = try container.decodeIfPresent(Bool.self, forKey: .echo)
        sampling = try SamplingFields(from: decoder)
        llama = try LlamaRequestFields(from: decoder)
    }
}

struct TokenizeRequest: Decodable {
    var model: String?
    var content: String
    var addSpecial: Bool?
    var withPieces: Bool?
    enum CodingKeys: String, CodingKey { case model, content, addSpecial = "add_special", withPieces = "with_pieces" }
}

struct DetokenizeRequest: Decodable {
    var model: String?
    var tokens: [Int32]
}

/// The body of a slot save or restore (`POST /slots/{id}?action=save|restore`).
struct SlotFileRequest: Decodable {
    var filename: String
}
