import Foundation
import Hummingbird
import NIOCore

/// Ollama's API (/api/*), for Ollama clients pointed at gemmactl unchanged (embeddings: `EmbeddingsController`).
struct OllamaController: Sendable {
    let server: ServerCore

    var endpoints: [Endpoint] {
        let pipeline = GenerationPipeline(server: server)
        return [
            pipeline.endpoint("/api/generate") { request, _ in try await generate(request) },
            pipeline.endpoint("/api/chat") { request, _ in try await chat(request) },
            Endpoint(.post, "/api/show") { request, _ in try await show(request) },
            Endpoint(.get, "/", isPublic: true) { _, _ in Self.running(head: false) },
            Endpoint(.head, "/", isPublic: true) { _, _ in Self.running(head: true) },
            Endpoint(.get, "/api/tags") { _, _ in tags() },
            Endpoint(.get, "/api/ps") { _, _ in ps() },
            Endpoint(.get, "/api/version") { _, _ in JSONBody.response(["version": GemmactlVersion.current]) },
        ]
    }

    struct Options: Decodable {
        var temperature: Double?, topK: Int?, topP: Double?, minP: Double?, seed: Int64?, numPredict: Int?
        var stop: StringOrArray?, repeatPenalty: Double?, presencePenalty: Double?, frequencyPenalty: Double?, repeatLastN: Int?
        enum CodingKeys: String, CodingKey {
            case temperature, topK = "top_k", topP = "top_p", minP = "min_p", seed, numPredict = "num_predict", stop
            case repeatPenalty = "repeat_penalty", presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
            case repeatLastN = "repeat_last_n"
        }

        /// `format`: "json" for any JSON object, or a JSON Schema object the reply must follow; the
        /// options override the server's `defaults`.
        func sampling(format: ClientJSON?, defaults: SamplingParameters) throws -> SamplingParameters {
            let grammar: String?
            switch format?.value ?? .null {
            case .null, .string(""): grammar = nil
            case .string("json"): grammar = JSONGrammar.object
            case .object: grammar = try StructuredOutput.grammar(schema: format, field: "format")
            case .string(let other):
                throw APIError.badRequest("'format' must be \"json\" or a JSON Schema object, got \"\(other)\"", param: "format")
            default: throw APIError.badRequest("'format' must be \"json\" or a JSON Schema object", param: "format")
            }
            // Ollama treats a negative seed as "random".
            let parameters = defaults.overriding(
                temperature: temperature, topK: topK, topP: topP, minP: minP, repeatPenalty: repeatPenalty,
                presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty, penaltyLastN: repeatLastN,
                seed: seed.flatMap { $0 >= 0 ? UInt32(truncatingIfNeeded: $0) : nil }, grammar: grammar)
            do { try parameters.validate() } catch { throw APIError(error, fieldPrefix: "options.") }
            return parameters
        }

        var maxTokens: Int? { numPredict.flatMap { $0 < 0 ? nil : $0 } }
    }

    struct GenerateBody: Decodable {
        var model: String?, prompt: String?, system: String?, raw: Bool?, stream: Bool?, format: ClientJSON?, options: Options?
        var think: JSONValue?
        var keepAlive: JSONValue?
        enum CodingKeys: String, CodingKey {
            case model, prompt, system, raw, stream, format, options, think, keepAlive = "keep_alive"
        }
    }

    struct ChatBody: Decodable {
        var model: String?
        var messages: [ChatMessageBody]
        var stream: Bool?
        var format: ClientJSON?
        var options: Options?
        var tools: [JSONValue]?
        var think: JSONValue?
        var keepAlive: JSONValue?
        enum CodingKeys: String, CodingKey {
            case model, messages, stream, format, options, tools, think, keepAlive = "keep_alive"
        }
    }

    /// Ollama's `think`: true or false, or a level ("low", "medium", "high") that thinks at that
    /// effort (the template's `reasoning_effort`). Asking a model whose template cannot think to
    /// think is Ollama's 400; false is accepted by any.
    func thinking(_ think: JSONValue?, loaded: ModelHost.Loaded) throws -> (thinking: Bool?, effort: String?) {
        let result: (thinking: Bool?, effort: String?)
        switch think {
        case nil, .null?: return (nil, nil)
        case .bool(let on)?: result = (on, nil)
        case .string(let level)? where ["low", "medium", "high"].contains(level): result = (true, level)
        case .string(let other)?:
            throw APIError.badRequest("invalid think value: \"\(other)\" (must be \"high\", \"medium\", \"low\", true, or false)", param: "think")
        default:
            throw APIError.badRequest("invalid think value: must be \"high\", \"medium\", \"low\", true, or false", param: "think")
        }
        if result.thinking == true, !loaded.formatter.supportsThinking {
            throw APIError.badRequest("\"\(loaded.modelID)\" does not support thinking", param: "think")
        }
        return result
    }

    /// Ollama's idiom for a request with nothing to generate: it loads the model (`done_reason:
    /// "load"`), or with `keep_alive: 0` unloads it (`"unload"`).
    private func preload(_ name: String?, keepAlive value: JSONValue?, shape: OllamaCodec.Shape) async throws -> Response {
        let keepAlive = try value.map(KeepAlive.parse)
        let host = try server.registry.host(named: name)
        var answer = OllamaChunk(model: host.modelID, done: true)
        if keepAlive == .after(.zero) {
            await server.registry.unload(host)
            answer.doneReason = "unload"
        } else {
            _ = try await server.requireModel(named: name)
            try self.keepAlive(value)
            answer.doneReason = "load"
        }
        switch shape {
        case .generate: answer.response = ""
        case .chat: answer.message = OllamaChunk.Message(content: "", toolCalls: nil)
        }
        return JSONBody.response(answer)
    }

    /// The request's `keep_alive`, for when its model is given back (see `RequestLeases`).
    private func keepAlive(_ value: JSONValue?) throws {
        guard let value else { return }
        RequestLeases.current?.keepAlive(try KeepAlive.parse(value))
    }

    struct ShowBody: Decodable {
        var model: String?
        var name: String?
        var verbose: Bool?
    }

    /// What Ollama answers on `/`, which tools probe to find a server.
    static func running(head: Bool) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(string: "Ollama is running")))
    }

    func generate(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(GenerateBody.self, from: request, limit: server.configuration.maxBodySize)
        let prompt = body.prompt ?? ""
        if prompt.isEmpty {
            return .answered(try await preload(body.model, keepAlive: body.keepAlive, shape: .generate))
        }
        let loaded = try await server.requireModel(named: body.model)
        try keepAlive(body.keepAlive)
        var messages: [ChatConversation.Message] = []
        if let system = body.system, !system.isEmpty { messages.append(.init(role: .system, content: system)) }
        messages.append(.init(role: .user, content: prompt))
        let options = body.options ?? Options()
        let (thinking, effort) = try self.thinking(body.think, loaded: loaded)
        let rendered: RenderedChat
        if body.raw == true {
            rendered = RenderedChat(tools: nil, native: nil, text: prompt,
                                    tokens: try await server.prompt(text: prompt, parseSpecial: false, loaded: loaded))
        } else {
            rendered = try await server.render(ChatInput(conversation: try ChatConversation(messages, field: "prompt"),
                                                         reasoningEffort: effort, thinking: thinking), loaded: loaded)
        }
        var generation = GenerationRequest(prompt: rendered.tokens,
                                           sampling: try options.sampling(format: body.format, defaults: server.sampling),
                                           maxTokens: server.maxTokens(options.maxTokens),
                                           stop: options.stop?.values ?? [])
        try rendered.native?.prepare(&generation, model: loaded.model, thinkingBudget: server.configuration.reasoningBudget)
        let codec = OllamaCodec(model: loaded.modelID, shape: .generate, nativeReplies: try rendered.native.map { try NativeReplyDecoder($0, choices: 1) })
        return .generate(GenerationPlan(request: generation, on: loaded, stream: body.stream ?? true,
                                        promptText: rendered.text, codec: codec))
    }

    func chat(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(ChatBody.self, from: request, limit: server.configuration.maxBodySize)
        if body.messages.isEmpty {
            return .answered(try await preload(body.model, keepAlive: body.keepAlive, shape: .chat))
        }
        let loaded = try await server.requireModel(named: body.model)
        try keepAlive(body.keepAlive)
        let (thinking, effort) = try self.thinking(body.think, loaded: loaded)
        let rendered = try await server.render(ChatInput(conversation: try ChatConversation(body.messages), tools: try body.toolCalling(),
                                                         offeredTools: body.tools ?? [], reasoningEffort: effort, thinking: thinking),
                                               loaded: loaded)
        let tools = rendered.tools
        let options = body.options ?? Options()
        var sampling = try options.sampling(format: rendered.native?.grammar == nil ? body.format : nil, defaults: server.sampling)
        sampling.grammar = tools?.grammar ?? sampling.grammar
        var generation = GenerationRequest(prompt: rendered.tokens, sampling: sampling, maxTokens: server.maxTokens(options.maxTokens),
                                           stop: options.stop?.values ?? [])
        try rendered.native?.prepare(&generation, model: loaded.model, thinkingBudget: server.configuration.reasoningBudget)
        let codec = OllamaCodec(model: loaded.modelID, shape: .chat, tools: tools, toolReplies: tools.map { _ in ToolReplyDecoder() },
                                nativeReplies: try rendered.native.map { try NativeReplyDecoder($0, choices: 1) })
        return .generate(GenerationPlan(request: generation, on: loaded, stream: body.stream ?? true,
                                        promptText: rendered.text, codec: codec))
    }

    /// Ollama's model card: details, the GGUF's metadata as `model_info`, the default parameters,
    /// the chat template and what the model can do. Arrays (the vocabulary) are left out unless
    /// `verbose`, as Ollama does; this server keeps only their first entries in any case.
    func show(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(ShowBody.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try await server.requireModel(named: body.model ?? body.name)
        let gguf = loaded.model.gguf
        var info: [String: JSONValue] = [:]
        for (key, value) in gguf.metadata {
            if case .array(_, let count, let preview) = value {
                info[key] = body.verbose == true && count == UInt64(preview.count) ? .array(preview.map(Self.jsonValue)) : .null
            } else {
                info[key] = Self.jsonValue(value)
            }
        }
        if info["general.parameter_count"] == nil { info["general.parameter_count"] = Self.jsonValue(.uint(loaded.model.parameterCount, bits: 64)) }
        let defaults = server.sampling
        let parameters = [
            ("temperature", "\(defaults.temperature)"), ("top_k", "\(defaults.topK)"), ("top_p", "\(defaults.topP)"),
            ("min_p", "\(defaults.minP)"), ("repeat_penalty", "\(defaults.repeatPenalty)"),
            ("repeat_last_n", "\(defaults.penaltyLastN)"), ("num_ctx", "\(loaded.engine.slotContextSize)"),
        ].map { $0.0.padding(toLength: 30, withPad: " ", startingAt: 0) + " " + $0.1 }.joined(separator: "\n")
        return JSONBody.response(OllamaModelCard(
            modelfile: "# Served by gemmactl from \(URL(fileURLWithPath: loaded.model.path).lastPathComponent)\nFROM \(loaded.modelID)\n",
            parameters: parameters, template: loaded.formatter.template, details: details(loaded), modelInfo: info,
            capabilities: Self.capabilities(loaded.formatter), modifiedAt: Self.timestamp(loaded.loadedAt)))
    }

    /// What the served model can do, in Ollama's words: every model completes and calls tools
    /// (in its template's syntax, or gemmactl's JSON format); `thinking` where the template can think.
    static func capabilities(_ formatter: ChatFormatter) -> [String] {
        ["completion", "tools"] + (formatter.supportsThinking ? ["thinking"] : [])
    }

    static func jsonValue(_ value: GGUFValue) -> JSONValue {
        switch value {
        case .uint(let number, _): Int64(exactly: number).map { .integer($0) } ?? .number(Double(number))
        case .int(let number, _): .integer(number)
        case .float(let number, _): .number(number)
        case .bool(let flag): .bool(flag)
        case .string(let text): .string(text)
        case .array(_, _, let preview): .array(preview.map(jsonValue))
        }
    }

    private func details(_ loaded: ModelHost.Loaded) -> OllamaModelDetails {
        let gguf = loaded.model.gguf
        return OllamaModelDetails(
            family: gguf.architecture ?? "", parameterSize: Self.parameterSize(loaded.model.parameterCount),
            // As Ollama names it: llama.cpp's file type, e.g. Q4_K_M.
            quantizationLevel: (try? ModelSummary(gguf))?.fileType
                ?? loaded.model.summary.split(separator: " ").dropFirst(2).joined(separator: " "))
    }

    private func modelEntry(_ host: ModelHost) -> OllamaModelEntry {
        var entry = OllamaModelEntry(name: host.modelID, modifiedAt: Self.timestamp(server.startedAt))
        if let loaded = host.loaded {
            entry.size = loaded.model.gguf.fileSize
            // Empty for the few seconds after loading while the file is hashed.
            entry.digest = loaded.digest.value ?? ""
            entry.details = details(loaded)
        }
        return entry
    }

    /// Every model served, loaded or not.
    func tags() -> Response { JSONBody.response(["models": server.registry.hosts.map(modelEntry)]) }

    /// The loaded models, each with when it will be unloaded if it stays idle.
    func ps() -> Response {
        let registry = server.registry
        return JSONBody.response(["models": registry.hosts.compactMap { host -> OllamaModelEntry? in
            guard let loaded = host.loaded else { return nil }
            var entry = modelEntry(host)
            entry.contextLength = loaded.engine.slotContextSize
            entry.sizeVram = 0
            let expiry = registry.expiry(host).map { Date(timeIntervalSinceNow: ($0 - .now).seconds) }
            entry.expiresAt = expiry.map { Self.timestamp($0) } ?? "2999-12-31T23:59:59Z"
            return entry
        }])
    }

    static func parameterSize(_ count: UInt64) -> String {
        count >= 1_000_000_000 ? String(format: "%.1fB", Double(count) / 1e9) : String(format: "%.0fM", Double(count) / 1e6)
    }

    static func timestamp(_ date: Date = Date()) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }
}

/// `/api/generate` and `/api/chat`: NDJSON lines (or one object) with Ollama's `done` and timing
/// fields; the two differ only in where the text goes.
struct OllamaCodec: GenerationCodec {
    enum Shape: Sendable {
        /// `"response": text`
        case generate
        /// `"message": {"role": "assistant", "content": text}`
        case chat
    }

    let model: String
    let shape: Shape
    /// With tools offered (chat): reads the constrained reply back as calls or content (this request's state).
    var tools: ToolCalling? = nil
    var toolReplies: ToolReplyDecoder? = nil
    /// For a template with its own tool or thinking syntax: reads the reply with its parser.
    var nativeReplies: NativeReplyDecoder? = nil

    var streamFormat: StreamFormat { .ndjson }

    func encode(_ event: GenerationEvent) -> [String] {
        switch event {
        case .started, .promptProgress:
            return []
        case .text(let text, _, _):
            if let nativeReplies { return parsed(nativeReplies.feed(text, choice: 0)) }
            let content = toolReplies?.feed(text) ?? text
            return content.isEmpty ? [] : [line(chunk(content))]
        case .finished(let stats):
            let last = line(final(stats, text: ""))
            if let nativeReplies {
                // Ollama sends a call whole, in one chunk, once the reply is read to its end.
                let end = nativeReplies.finish(choice: 0, reason: stats.finishReason)
                let calls = end.reply.finishReason == "tool_calls" ? end.reply.message.toolCalls.map(OllamaChunk.Call.init) : []
                return parsed(end.deltas) + (calls.isEmpty ? [] : [line(chunk("", calls: calls))]) + [last]
            }
            guard let end = toolReplies?.finish(stats.finishReason), !end.content.isEmpty || !end.calls.isEmpty else { return [last] }
            return [line(chunk(end.content, calls: end.calls.map(OllamaChunk.Call.init))), last]
        }
    }

    func response(_ result: CollectedGeneration) -> Response {
        if let nativeReplies {
            let reply = nativeReplies.reply(result.text, reason: result.stats.finishReason)
            let calls = reply.finishReason == "tool_calls" ? reply.message.toolCalls.map(OllamaChunk.Call.init) : []
            return JSONBody.response(final(result.stats, text: reply.message.content, thinking: reply.message.reasoningContent, calls: calls))
        }
        let reply = ToolReply(text: result.text, finishReason: result.stats.finishReason, tools: tools)
        return JSONBody.response(final(result.stats, text: reply.content, calls: reply.calls.map(OllamaChunk.Call.init)))
    }

    /// Lines for what a piece of the reply added: its content and thinking (calls go whole at the end).
    private func parsed(_ deltas: [ChatReplyParser.Delta]) -> [String] {
        deltas.compactMap { delta in
            switch delta {
            case .content(let text): text.isEmpty ? nil : line(chunk(text))
            case .reasoning(let text): text.isEmpty ? nil : line(chunk("", thinking: text))
            case .toolCall: nil
            }
        }
    }

    private func chunk(_ text: String, thinking: String = "", calls: [OllamaChunk.Call] = [], done: Bool = false) -> OllamaChunk {
        var chunk = OllamaChunk(model: model, done: done)
        let thinking = thinking.isEmpty ? nil : thinking
        switch shape {
        case .generate:
            chunk.response = text
            chunk.thinking = thinking
        case .chat: chunk.message = .init(content: text, thinking: thinking, toolCalls: calls.isEmpty ? nil : calls)
        }
        return chunk
    }

    private func final(_ stats: GenerationStats, text: String, thinking: String = "", calls: [OllamaChunk.Call] = []) -> OllamaChunk {
        var last = chunk(text, thinking: thinking, calls: calls, done: true)
        last.doneReason = stats.finishReason.rawValue
        last.totalDuration = (stats.queueDuration + stats.promptDuration + stats.generationDuration).nanoseconds
        last.loadDuration = 0
        last.promptEvalCount = stats.promptTokens
        last.promptEvalDuration = stats.promptDuration.nanoseconds
        last.evalCount = stats.completionTokens
        last.evalDuration = stats.generationDuration.nanoseconds
        return last
    }
}
