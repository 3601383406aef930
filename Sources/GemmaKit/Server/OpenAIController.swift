import Foundation
import Hummingbird
import Logging
import NIOCore

/// The OpenAI-compatible API: chat completions, completions, models, embeddings.
struct OpenAIController: Sendable {
    typealias Context = ServeRequestContext
    let server: ServerCore

    var endpoints: [Endpoint] {
        let pipeline = GenerationPipeline(server: server)
        return ["/v1", ""].flatMap { prefix in [
            pipeline.endpoint("\(prefix)/chat/completions") { request, _ in try await chat(request) },
            pipeline.endpoint("\(prefix)/completions") { request, _ in try await completions(request) },
            Endpoint(.post, "\(prefix)/embeddings") { request, _ in try await embeddings(request) },
            Endpoint(.get, "\(prefix)/models") { _, _ in models() },
        ] }
    }

    // MARK: Chat

    func chat(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(ChatCompletionRequest.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        let rendered = try await server.render(chat: body, loaded: loaded)
        let tools = rendered.tools
        let grammar = try tools?.grammar ?? body.responseFormat?.grammar()
        let (prompt, promptTokens) = (rendered.text, rendered.tokens)
        var topLogprobs: Int?
        if body.logprobs == true {
            let count = body.topLogprobs ?? 0
            guard (0...20).contains(count) else { throw APIError.badRequest("'top_logprobs' must be between 0 and 20, got \(count)", param: "top_logprobs") }
            topLogprobs = count
        }
        let generation = GenerationRequest(
            prompt: promptTokens,
            sampling: try body.sampling.sampling(grammar: grammar), maxTokens: try body.sampling.maxTokens(),
            stop: try body.sampling.stopStrings(), logprobs: topLogprobs)
        let codec = ChatCompletionCodec(identity: ResponseIdentity(prefix: "chatcmpl-", model: server.modelID),
                                        wantsLogprobs: topLogprobs != nil,
                                        includeUsage: body.sampling.streamOptions?.includeUsage == true,
                                        toolReplies: tools.map { _ in ToolReplyDecoder() }, tools: tools)
        return .generate(GenerationPlan(request: generation, engine: loaded.engine, stream: body.sampling.stream == true,
                                        promptText: prompt, codec: codec))
    }

    // MARK: Completions

    func completions(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(CompletionRequest.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        guard body.prompt.values.count == 1 else {
            throw APIError.badRequest("'prompt' must be one string (got \(body.prompt.values.count)); send one request per prompt", param: "prompt")
        }
        let prompt = body.prompt.values[0]
        if let logprobs = body.logprobs, !(0...20).contains(logprobs) {
            throw APIError.badRequest("'logprobs' must be between 0 and 20, got \(logprobs)", param: "logprobs")
        }
        let generation = GenerationRequest(
            prompt: try await server.prompt(text: prompt, parseSpecial: false, loaded: loaded),
            sampling: try body.sampling.sampling(), maxTokens: try body.sampling.maxTokens() ?? 16,
            stop: try body.sampling.stopStrings(), logprobs: body.logprobs)
        let codec = CompletionCodec(identity: ResponseIdentity(prefix: "cmpl-", model: server.modelID),
                                    echo: body.echo == true ? prompt : "", wantsLogprobs: body.logprobs != nil,
                                    includeUsage: body.sampling.streamOptions?.includeUsage == true)
        return .generate(GenerationPlan(request: generation, engine: loaded.engine, stream: body.sampling.stream == true,
                                        promptText: prompt, codec: codec))
    }

    // MARK: Embeddings and models

    func embeddings(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(EmbeddingsRequest.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        let inputs = body.input.values
        guard !inputs.isEmpty else { throw APIError.badRequest("'input' must hold at least one string", param: "input") }
        guard inputs.count <= 256 else { throw APIError.badRequest("'input' takes at most 256 strings, got \(inputs.count)", param: "input") }
        let format = body.encodingFormat ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.badRequest("'encoding_format' must be 'float' or 'base64', got '\(format)'", param: "encoding_format")
        }
        let tokens = inputs.map { loaded.model.tokenize($0, addSpecial: true) }
        for (index, list) in tokens.enumerated() where list.isEmpty || (list.count == 1 && inputs[index].isEmpty) {
            throw APIError.badRequest("'input[\(index)]' is empty", param: "input")
        }
        let vectors = try await loaded.engine.embed(tokens)
        let count = tokens.reduce(0) { $0 + $1.count }
        let data: [[String: Any]] = vectors.enumerated().map { index, vector in
            let embedding: Any = format == "base64"
                ? vector.withUnsafeBufferPointer { Data(buffer: $0).base64EncodedString() }
                : vector.map { Double($0) }
            return ["object": "embedding", "index": index, "embedding": embedding]
        }
        return JSONBody.response(object: [
            "object": "list", "model": server.modelID, "data": data,
            "usage": ["prompt_tokens": count, "total_tokens": count],
        ])
    }

    func models() -> Response {
        var entry: [String: Any] = ["id": server.modelID, "object": "model", "owned_by": "gemmactl",
                                    "created": Int(server.startedAt.timeIntervalSince1970),
                                    "aliases": server.configuration.aliases.isEmpty ? [server.modelID] : server.configuration.aliases,
                                    "tags": server.configuration.tags]
        if let loaded = server.host.loaded {
            entry["created"] = Int(loaded.loadedAt.timeIntervalSince1970)
            entry["meta"] = ["n_params": loaded.model.parameterCount, "size": loaded.model.sizeInBytes,
                             "n_ctx_train": loaded.model.contextTrainSize, "n_embd": loaded.model.embeddingSize,
                             "n_vocab": loaded.model.vocabularySize, "n_ctx_slot": loaded.engine.slotContextSize]
        }
        return JSONBody.response(object: ["object": "list", "data": [entry]])
    }
}

// MARK: Codecs

/// `/v1/chat/completions`: `chat.completion` whole, `chat.completion.chunk` events streamed.
struct ChatCompletionCodec: GenerationCodec {
    let identity: ResponseIdentity
    let wantsLogprobs: Bool
    let includeUsage: Bool
    /// With tools offered: reads the constrained reply back as calls or content (this request's state).
    let toolReplies: ToolReplyDecoder?
    let tools: ToolCalling?
    private let textChunk: TextChunkTemplate

    init(identity: ResponseIdentity, wantsLogprobs: Bool, includeUsage: Bool,
         toolReplies: ToolReplyDecoder? = nil, tools: ToolCalling? = nil) {
        self.identity = identity
        self.wantsLogprobs = wantsLogprobs
        self.includeUsage = includeUsage
        self.toolReplies = toolReplies
        self.tools = tools
        textChunk = TextChunkTemplate { ChatChunk(identity, choices: [.init(delta: .init(content: $0))]) }
    }

    var streamFormat: StreamFormat { .serverSentEvents }

    func encode(_ event: GenerationEvent) -> [String] {
        switch event {
        case .started:
            return [line(ChatChunk(identity, choices: [.init(delta: .init(role: "assistant", content: ""))]))]
        case .text(let text, let logprobs):
            if let toolReplies {
                let content = toolReplies.feed(text)
                return content.isEmpty ? [] : [streamFormat.line(json: textChunk.json(content))]
            }
            guard wantsLogprobs else { return [streamFormat.line(json: textChunk.json(text))] }
            return [line(ChatChunk(identity, choices: [.init(delta: .init(content: text), logprobs: ChatLogprobs(logprobs, enabled: true))]))]
        case .finished(let stats):
            var lines: [String] = []
            var finishReason = stats.finishReason.rawValue
            if let end = toolReplies?.finish(stats.finishReason) {
                if !end.content.isEmpty { lines.append(streamFormat.line(json: textChunk.json(end.content))) }
                if !end.calls.isEmpty {
                    let calls = end.calls.enumerated().map { OpenAIToolCall($1, index: $0) }
                    lines.append(line(ChatChunk(identity, choices: [.init(delta: .init(toolCalls: calls))])))
                }
                finishReason = end.finishReason
            }
            lines.append(line(ChatChunk(identity, choices: [.init(delta: .init(), finishReason: finishReason)])))
            if includeUsage { lines.append(line(ChatChunk(identity, choices: [], usage: Usage(stats)))) }
            lines.append("data: [DONE]\n\n")
            return lines
        }
    }

    func response(_ result: CollectedGeneration) -> Response {
        let reply = ToolReply(text: result.text, finishReason: result.stats.finishReason, tools: tools)
        return JSONBody.response(ChatCompletion(
            id: identity.id, created: identity.created, model: identity.model,
            choices: [.init(message: .init(reply), logprobs: ChatLogprobs(result.logprobs, enabled: wantsLogprobs),
                            finishReason: reply.finishReason)],
            usage: Usage(result.stats)))
    }
}

/// `/v1/completions`: `text_completion` objects, whole or streamed; `echo` puts the prompt first.
struct CompletionCodec: GenerationCodec {
    let identity: ResponseIdentity
    let echo: String
    let wantsLogprobs: Bool
    let includeUsage: Bool
    private let textChunk: TextChunkTemplate

    init(identity: ResponseIdentity, echo: String, wantsLogprobs: Bool, includeUsage: Bool) {
        self.identity = identity
        self.echo = echo
        self.wantsLogprobs = wantsLogprobs
        self.includeUsage = includeUsage
        textChunk = TextChunkTemplate { TextCompletion(identity, choices: [.init(text: $0)]) }
    }

    var streamFormat: StreamFormat { .serverSentEvents }

    func encode(_ event: GenerationEvent) -> [String] {
        switch event {
        case .started:
            return echo.isEmpty ? [] : [streamFormat.line(json: textChunk.json(echo))]
        case .text(let text, let logprobs):
            guard wantsLogprobs else { return [streamFormat.line(json: textChunk.json(text))] }
            return [line(TextCompletion(identity, choices: [.init(text: text, logprobs: CompletionLogprobs(logprobs, enabled: true))]))]
        case .finished(let stats):
            var lines = [line(TextCompletion(identity, choices: [.init(text: "", finishReason: stats.finishReason.rawValue)]))]
            if includeUsage { lines.append(line(TextCompletion(identity, choices: [], usage: Usage(stats)))) }
            lines.append("data: [DONE]\n\n")
            return lines
        }
    }

    func response(_ result: CollectedGeneration) -> Response {
        JSONBody.response(TextCompletion(
            identity,
            choices: [.init(text: echo + result.text, logprobs: CompletionLogprobs(result.logprobs, enabled: wantsLogprobs),
                            finishReason: result.stats.finishReason.rawValue)],
            usage: Usage(result.stats)))
    }
}

extension GenerationCodec {
    /// One JSON value as a line of this codec's stream.
    func line(_ value: some Encodable) -> String { streamFormat.line(json: JSONBody.string(value)) }
}

// MARK: Wire types

struct Usage: Encodable {
    let promptTokens: Int, completionTokens: Int, totalTokens: Int
    let promptTokensDetails: Details
    struct Details: Encodable {
        let cachedTokens: Int
        enum CodingKeys: String, CodingKey { case cachedTokens = "cached_tokens" }
    }
    init(_ stats: GenerationStats) {
        promptTokens = stats.promptTokens
        completionTokens = stats.completionTokens
        totalTokens = stats.promptTokens + stats.completionTokens
        promptTokensDetails = Details(cachedTokens: stats.cachedTokens)
    }
    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        case promptTokensDetails = "prompt_tokens_details"
    }
}

struct ChatLogprobs: Encodable {
    struct Entry: Encodable {
        let token: String, logprob: Double, bytes: [UInt8]
        let topLogprobs: [Alternative]
        enum CodingKeys: String, CodingKey { case token, logprob, bytes, topLogprobs = "top_logprobs" }
    }
    struct Alternative: Encodable { let token: String, logprob: Double, bytes: [UInt8] }
    let content: [Entry]

    init?(_ logprobs: [TokenLogprob], enabled: Bool) {
        guard enabled else { return nil }
        content = logprobs.map { entry in
            Entry(token: entry.token, logprob: entry.logprob, bytes: entry.bytes,
                  topLogprobs: entry.top.map { Alternative(token: $0.token, logprob: $0.logprob, bytes: $0.bytes) })
        }
    }
}

struct CompletionLogprobs: Encodable {
    let tokens: [String], tokenLogprobs: [Double], topLogprobs: [[String: Double]]
    enum CodingKeys: String, CodingKey { case tokens, tokenLogprobs = "token_logprobs", topLogprobs = "top_logprobs" }

    init?(_ logprobs: [TokenLogprob], enabled: Bool) {
        guard enabled else { return nil }
        tokens = logprobs.map(\.token)
        tokenLogprobs = logprobs.map(\.logprob)
        topLogprobs = logprobs.map { entry in Dictionary(entry.top.map { ($0.token, $0.logprob) }, uniquingKeysWith: max) }
    }
}

struct ChatCompletion: Encodable {
    let id: String
    let object = "chat.completion"
    let created: Int, model: String
    let choices: [Choice]
    let usage: Usage
    struct Choice: Encodable {
        let index = 0
        let message: Message
        let logprobs: ChatLogprobs?
        let finishReason: String
        enum CodingKeys: String, CodingKey { case index, message, logprobs, finishReason = "finish_reason" }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(message, forKey: .message)
            try container.encode(logprobs, forKey: .logprobs)
            try container.encode(finishReason, forKey: .finishReason)
        }
    }
    /// The assistant's message: `content` null when it called tools, `tool_calls` left out when it did not.
    struct Message: Encodable {
        let role = "assistant"
        let content: String?
        let toolCalls: [OpenAIToolCall]?

        init(_ reply: ToolReply) {
            content = reply.calls.isEmpty ? reply.content : nil
            toolCalls = reply.calls.isEmpty ? nil : reply.calls.map { OpenAIToolCall($0) }
        }

        enum CodingKeys: String, CodingKey { case role, content, toolCalls = "tool_calls" }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(role, forKey: .role)
            try container.encode(content, forKey: .content)
            try container.encodeIfPresent(toolCalls, forKey: .toolCalls)
        }
    }
}

/// The fields every completion object shares; `usage` is left out while nil (chunks before the last).
struct CompletionEnvelope<Choice: Encodable>: Encodable {
    let id: String
    let object: String
    let created: Int
    let model: String
    let choices: [Choice]
    var usage: Usage?
}

typealias ChatChunk = CompletionEnvelope<ChatChunkChoice>
typealias TextCompletion = CompletionEnvelope<TextChoice>

extension CompletionEnvelope where Choice == ChatChunkChoice {
    init(_ identity: ResponseIdentity, choices: [Choice], usage: Usage? = nil) {
        self.init(id: identity.id, object: "chat.completion.chunk", created: identity.created, model: identity.model,
                  choices: choices, usage: usage)
    }
}

extension CompletionEnvelope where Choice == TextChoice {
    init(_ identity: ResponseIdentity, choices: [Choice], usage: Usage? = nil) {
        self.init(id: identity.id, object: "text_completion", created: identity.created, model: identity.model,
                  choices: choices, usage: usage)
    }
}

/// One streamed chat choice; `logprobs` and `finish_reason` are sent as null until known, as OpenAI does.
struct ChatChunkChoice: Encodable {
    var index = 0
    var delta: Delta
    var logprobs: ChatLogprobs?
    var finishReason: String?

    struct Delta: Encodable {
        var role: String?
        var content: String?
        var toolCalls: [OpenAIToolCall]?
        enum CodingKeys: String, CodingKey { case role, content, toolCalls = "tool_calls" }
    }

    enum CodingKeys: String, CodingKey { case index, delta, logprobs, finishReason = "finish_reason" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encode(delta, forKey: .delta)
        try container.encode(logprobs, forKey: .logprobs)
        try container.encode(finishReason, forKey: .finishReason)
    }
}

/// One text completion choice, streamed or whole.
struct TextChoice: Encodable {
    var index = 0
    var text: String
    var logprobs: CompletionLogprobs?
    var finishReason: String?

    enum CodingKeys: String, CodingKey { case index, text, logprobs, finishReason = "finish_reason" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encode(text, forKey: .text)
        try container.encode(logprobs, forKey: .logprobs)
        try container.encode(finishReason, forKey: .finishReason)
    }
}
