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
        // `/completions` without /v1 is llama-server's native completion (`NativeCompletionController`).
        return ["/v1", ""].flatMap { prefix in [
            pipeline.endpoint("\(prefix)/chat/completions") { request, _ in try await chat(request) },
            Endpoint(.get, "\(prefix)/models") { _, _ in models() },
        ] } + [
            pipeline.endpoint("/v1/completions") { request, _ in try await completions(request) },
            // `/embeddings` without /v1 is llama-server's native shape (`NativeEmbeddingsController`).
            Endpoint(.post, "/v1/embeddings") { request, _ in try await embeddings(request) },
        ]
    }

    // MARK: Chat

    func chat(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(ChatCompletionRequest.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        let rendered = try await server.render(chat: body, loaded: loaded)
        let tools = rendered.tools
        let choices = try Choices.count(body.sampling.n, slotCount: loaded.engine.slotCount)
        if tools != nil, choices > 1 {
            throw APIError.badRequest("'n' must be 1 when tools are offered, got \(choices)", param: "n")
        }
        let grammar = try tools?.grammar ?? body.responseFormat?.grammar()
        let (prompt, promptTokens) = (rendered.text, rendered.tokens)
        var topLogprobs: Int?
        if body.logprobs == true {
            let count = body.topLogprobs ?? 0
            guard (0...20).contains(count) else { throw APIError.badRequest("'top_logprobs' must be between 0 and 20, got \(count)", param: "top_logprobs") }
            topLogprobs = count
        }
        var generation = GenerationRequest(
            prompt: promptTokens,
            sampling: try body.sampling.sampling(grammar: grammar), maxTokens: try body.sampling.maxTokens(),
            stop: try body.sampling.stopStrings(), logprobs: topLogprobs)
        try body.llama.apply(to: &generation, model: loaded.model, slotCount: loaded.engine.slotCount)
        let codec = ChatCompletionCodec(identity: ResponseIdentity(prefix: "chatcmpl-", model: server.modelID),
                                        wantsLogprobs: generation.logprobs != nil,
                                        includeUsage: body.sampling.streamOptions?.includeUsage == true,
                                        reporting: StreamReporting(body.llama, choices: choices),
                                        toolReplies: tools.map { _ in ToolReplyDecoder() }, tools: tools)
        return .generate(GenerationPlan(requests: Choices.requests(generation, count: choices), engine: loaded.engine,
                                        stream: body.sampling.stream == true, promptText: prompt, codec: codec))
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
        let choices = try Choices.count(body.sampling.n, slotCount: loaded.engine.slotCount)
        var generation = GenerationRequest(
            prompt: try await server.prompt(text: prompt, parseSpecial: false, loaded: loaded),
            sampling: try body.sampling.sampling(), maxTokens: try body.sampling.maxTokens() ?? 16,
            stop: try body.sampling.stopStrings(), logprobs: body.logprobs)
        try body.llama.apply(to: &generation, model: loaded.model, slotCount: loaded.engine.slotCount)
        let codec = CompletionCodec(identity: ResponseIdentity(prefix: "cmpl-", model: server.modelID),
                                    echo: body.echo == true ? prompt : "", wantsLogprobs: generation.logprobs != nil,
                                    includeUsage: body.sampling.streamOptions?.includeUsage == true,
                                    reporting: StreamReporting(body.llama, choices: choices))
        return .generate(GenerationPlan(requests: Choices.requests(generation, count: choices), engine: loaded.engine,
                                        stream: body.sampling.stream == true, promptText: prompt, codec: codec))
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

/// What llama-server's extensions ask a stream to carry besides the text: running `timings` in
/// every chunk (`timings_per_token`) and prompt-progress chunks (`return_progress`), with one
/// clock per choice.
struct StreamReporting: Sendable {
    let timingsPerToken: Bool
    let progress: Bool
    let timers: [StreamTimer]

    init(_ fields: LlamaRequestFields, choices: Int) {
        timingsPerToken = fields.timingsPerToken == true
        progress = fields.returnProgress == true
        timers = (0..<choices).map { _ in StreamTimer() }
    }

    /// The running timings for `event` of `choice` when they go out with every chunk (the clock
    /// sees every event either way).
    func timings(_ event: GenerationEvent, choice: Int) -> LlamaTimings? {
        let timings = timers[choice].observe(event)
        return timingsPerToken ? timings : nil
    }
}

/// `/v1/chat/completions`: `chat.completion` whole, `chat.completion.chunk` events streamed.
struct ChatCompletionCodec: GenerationCodec {
    let identity: ResponseIdentity
    let wantsLogprobs: Bool
    let includeUsage: Bool
    let reporting: StreamReporting
    /// With tools offered: reads the constrained reply back as calls or content (this request's state).
    let toolReplies: ToolReplyDecoder?
    let tools: ToolCalling?
    /// One per choice: the chunk around a text delta.
    private let textChunks: [TextChunkTemplate]

    init(identity: ResponseIdentity, wantsLogprobs: Bool, includeUsage: Bool, reporting: StreamReporting,
         toolReplies: ToolReplyDecoder? = nil, tools: ToolCalling? = nil) {
        self.identity = identity
        self.wantsLogprobs = wantsLogprobs
        self.includeUsage = includeUsage
        self.reporting = reporting
        self.toolReplies = toolReplies
        self.tools = tools
        textChunks = reporting.timers.indices.map { choice in
            TextChunkTemplate { ChatChunk(identity, choices: [.init(index: choice, delta: .init(content: $0))]) }
        }
    }

    var streamFormat: StreamFormat { .serverSentEvents }

    func encode(_ event: GenerationEvent) -> [String] { encode(event, choice: 0) }

    func encode(_ event: GenerationEvent, choice: Int) -> [String] {
        let timings = reporting.timings(event, choice: choice)
        func chunk(_ delta: ChatChunkChoice.Delta, logprobs: ChatLogprobs? = nil, finishReason: String? = nil) -> String {
            var deltaChunk = ChatChunk(identity, choices: [.init(index: choice, delta: delta, logprobs: logprobs, finishReason: finishReason)])
            deltaChunk.timings = timings
            return line(deltaChunk)
        }
        func text(_ content: String) -> String {
            timings == nil ? streamFormat.line(json: textChunks[choice].json(content)) : chunk(.init(content: content))
        }
        switch event {
        case .started:
            return [chunk(.init(role: "assistant", content: ""))]
        case .promptProgress(let progress):
            guard reporting.progress else { return [] }
            var progressChunk = ChatChunk(identity, choices: [.init(index: choice, delta: .init(role: "assistant"))])
            progressChunk.timings = timings
            progressChunk.promptProgress = PromptProgressJSON(progress)
            return [line(progressChunk)]
        case .text(let content, let logprobs, _):
            if let toolReplies {
                let visible = toolReplies.feed(content)
                return visible.isEmpty ? [] : [text(visible)]
            }
            guard wantsLogprobs else { return [text(content)] }
            return [chunk(.init(content: content), logprobs: ChatLogprobs(logprobs, enabled: true))]
        case .finished(let stats):
            var lines: [String] = []
            var finishReason = stats.finishReason.rawValue
            if let end = toolReplies?.finish(stats.finishReason) {
                if !end.content.isEmpty { lines.append(text(end.content)) }
                if !end.calls.isEmpty {
                    let calls = end.calls.enumerated().map { OpenAIToolCall($1, index: $0) }
                    lines.append(chunk(.init(toolCalls: calls)))
                }
                finishReason = end.finishReason
            }
            var last = ChatChunk(identity, choices: [.init(index: choice, delta: .init(), finishReason: finishReason)])
            last.timings = LlamaTimings(stats)
            lines.append(line(last))
            return lines
        }
    }

    func endOfStream(_ stats: [GenerationStats]) -> [String] {
        (includeUsage ? [line(ChatChunk(identity, choices: [], usage: Usage(stats)))] : []) + ["data: [DONE]\n\n"]
    }

    func response(_ result: CollectedGeneration) -> Response { response([result]) }

    func response(_ results: [CollectedGeneration]) -> Response {
        let choices = results.enumerated().map { index, result in
            let reply = ToolReply(text: result.text, finishReason: result.stats.finishReason, tools: tools)
            return ChatCompletion.Choice(index: index, message: .init(reply),
                                         logprobs: ChatLogprobs(result.logprobs, enabled: wantsLogprobs), finishReason: reply.finishReason)
        }
        return JSONBody.response(ChatCompletion(
            id: identity.id, created: identity.created, model: identity.model, choices: choices,
            usage: Usage(results.map(\.stats)), timings: results.first.map { LlamaTimings($0.stats) }))
    }
}

/// `/v1/completions`: `text_completion` objects, whole or streamed; `echo` puts the prompt first.
struct CompletionCodec: GenerationCodec {
    let identity: ResponseIdentity
    let echo: String
    let wantsLogprobs: Bool
    let includeUsage: Bool
    let reporting: StreamReporting
    private let textChunks: [TextChunkTemplate]

    init(identity: ResponseIdentity, echo: String, wantsLogprobs: Bool, includeUsage: Bool, reporting: StreamReporting) {
        self.identity = identity
        self.echo = echo
        self.wantsLogprobs = wantsLogprobs
        self.includeUsage = includeUsage
        self.reporting = reporting
        textChunks = reporting.timers.indices.map { choice in
            TextChunkTemplate { TextCompletion(identity, choices: [.init(index: choice, text: $0)]) }
        }
    }

    var streamFormat: StreamFormat { .serverSentEvents }

    func encode(_ event: GenerationEvent) -> [String] { encode(event, choice: 0) }

    func encode(_ event: GenerationEvent, choice: Int) -> [String] {
        let timings = reporting.timings(event, choice: choice)
        func chunk(_ text: String, logprobs: CompletionLogprobs? = nil, finishReason: String? = nil,
                   timings: LlamaTimings?, progress: PromptProgressJSON? = nil) -> String {
            var completion = TextCompletion(identity, choices: [.init(index: choice, text: text, logprobs: logprobs, finishReason: finishReason)])
            completion.timings = timings
            completion.promptProgress = progress
            return line(completion)
        }
        func text(_ content: String) -> String {
            timings == nil ? streamFormat.line(json: textChunks[choice].json(content)) : chunk(content, timings: timings)
        }
        switch event {
        case .started:
            return echo.isEmpty ? [] : [text(echo)]
        case .promptProgress(let progress):
            return reporting.progress ? [chunk("", timings: timings, progress: PromptProgressJSON(progress))] : []
        case .text(let content, let logprobs, _):
            guard wantsLogprobs else { return [text(content)] }
            return [chunk(content, logprobs: CompletionLogprobs(logprobs, enabled: true), timings: timings)]
        case .finished(let stats):
            return [chunk("", finishReason: stats.finishReason.rawValue, timings: LlamaTimings(stats))]
        }
    }

    func endOfStream(_ stats: [GenerationStats]) -> [String] {
        (includeUsage ? [line(TextCompletion(identity, choices: [], usage: Usage(stats)))] : []) + ["data: [DONE]\n\n"]
    }

    func response(_ result: CollectedGeneration) -> Response { response([result]) }

    func response(_ results: [CollectedGeneration]) -> Response {
        var completion = TextCompletion(
            identity,
            choices: results.enumerated().map { index, result in
                .init(index: index, text: echo + result.text, logprobs: CompletionLogprobs(result.logprobs, enabled: wantsLogprobs),
                      finishReason: result.stats.finishReason.rawValue)
            },
            usage: Usage(results.map(\.stats)))
        completion.timings = results.first.map { LlamaTimings($0.stats) }
        return JSONBody.response(completion)
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
    init(_ stats: GenerationStats) { self.init([stats]) }

    /// Of several choices of one prompt: the prompt counted once, the completions summed.
    init(_ stats: [GenerationStats]) {
        promptTokens = stats.first?.promptTokens ?? 0
        completionTokens = stats.reduce(0) { $0 + $1.completionTokens }
        totalTokens = promptTokens + completionTokens
        promptTokensDetails = Details(cachedTokens: stats.first?.cachedTokens ?? 0)
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
    let systemFingerprint = SystemFingerprint.value
    let choices: [Choice]
    let usage: Usage
    let timings: LlamaTimings?
    enum CodingKeys: String, CodingKey {
        case id, object, created, model, systemFingerprint = "system_fingerprint", choices, usage, timings
    }
    struct Choice: Encodable {
        let index: Int
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
    var systemFingerprint = SystemFingerprint.value
    let choices: [Choice]
    var usage: Usage?
    /// llama-server's: in the last chunk, or every chunk with `timings_per_token`.
    var timings: LlamaTimings?
    /// llama-server's `return_progress` chunks.
    var promptProgress: PromptProgressJSON?

    enum CodingKeys: String, CodingKey {
        case id, object, created, model, systemFingerprint = "system_fingerprint", choices, usage, timings
        case promptProgress = "prompt_progress"
    }
}

typealias ChatChunk = CompletionEnvelope<ChatChunkChoice>
typealias TextCompletion = CompletionEnvelope<TextChoice>

extension CompletionEnvelope where Choice == ChatChunkChoice {
    init(_ identity: ResponseIdentity, choices: [Choice], usage: Usage? = nil) {
        self.init(id: identity.id, object: "chat.completion.chunk", created: identity.created, model: identity.model,
                  choices: choices, usage: usage, timings: nil, promptProgress: nil)
    }
}

extension CompletionEnvelope where Choice == TextChoice {
    init(_ identity: ResponseIdentity, choices: [Choice], usage: Usage? = nil) {
        self.init(id: identity.id, object: "text_completion", created: identity.created, model: identity.model,
                  choices: choices, usage: usage, timings: nil, promptProgress: nil)
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
