import Foundation
import Hummingbird
import NIOCore

/// Ollama's API (/api/*), for Ollama clients pointed at gemmactl unchanged.
struct OllamaController: Sendable {
    typealias Context = ServeRequestContext
    let server: ServerCore

    var endpoints: [Endpoint] {
        let pipeline = GenerationPipeline(server: server)
        return [
            pipeline.endpoint("/api/generate") { request, _ in try await generate(request) },
            pipeline.endpoint("/api/chat") { request, _ in try await chat(request) },
            Endpoint(.post, "/api/embed") { request, _ in try await embed(request) },
            Endpoint(.post, "/api/embeddings") { request, _ in try await legacyEmbeddings(request) },
            Endpoint(.post, "/api/show") { request, _ in try await show(request) },
            Endpoint(.get, "/", isPublic: true) { _, _ in Self.running(head: false) },
            Endpoint(.head, "/", isPublic: true) { _, _ in Self.running(head: true) },
            Endpoint(.get, "/api/tags") { _, _ in tags() },
            Endpoint(.get, "/api/ps") { _, _ in ps() },
            Endpoint(.get, "/api/version") { _, _ in JSONBody.response(object: ["version": GemmactlVersion.current]) },
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

        /// `format`: "json" for any JSON object, or a JSON Schema object the reply must follow.
        func sampling(format: JSONValue?) throws -> SamplingParameters {
            let grammar: String?
            switch format ?? .null {
            case .null, .string(""): grammar = nil
            case .string("json"): grammar = JSONGrammar.object
            case .object: grammar = try StructuredOutput.grammar(schema: format, field: "format")
            case .string(let other):
                throw APIError.badRequest("'format' must be \"json\" or a JSON Schema object, got \"\(other)\"", param: "format")
            default: throw APIError.badRequest("'format' must be \"json\" or a JSON Schema object", param: "format")
            }
            // Ollama treats a negative seed as "random".
            let parameters = SamplingParameters().overriding(
                temperature: temperature, topK: topK, topP: topP, minP: minP, repeatPenalty: repeatPenalty,
                presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty, penaltyLastN: repeatLastN,
                seed: seed.flatMap { $0 >= 0 ? UInt32(truncatingIfNeeded: $0) : nil }, grammar: grammar)
            do { try parameters.validate() } catch { throw APIError.badRequest("options: \(error.message)") }
            return parameters
        }

        var maxTokens: Int? { numPredict.flatMap { $0 < 0 ? nil : $0 } }
    }

    struct GenerateBody: Decodable {
        var model: String?, prompt: String?, system: String?, raw: Bool?, stream: Bool?, format: JSONValue?, options: Options?
    }

    struct ChatBody: Decodable {
        var model: String?
        var messages: [ChatMessageBody]
        var stream: Bool?
        var format: JSONValue?
        var options: Options?
        var tools: [JSONValue]?
    }

    struct EmbedBody: Decodable {
        var model: String?
        var input: StringOrArray
    }

    struct LegacyEmbeddingsBody: Decodable {
        var model: String?
        var prompt: String
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
        let loaded = try server.requireModel()
        let prompt = body.prompt ?? ""
        if prompt.isEmpty {
            // Ollama answers an empty prompt by loading the model.
            return .answered(JSONBody.response(object: ["model": server.modelID, "created_at": Self.timestamp(), "response": "",
                                                        "done": true, "done_reason": "load"]))
        }
        var messages: [ChatMessage] = []
        if let system = body.system, !system.isEmpty { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: prompt))
        let tokens: [Token], promptText: String
        if body.raw == true {
            tokens = try await server.prompt(text: prompt, parseSpecial: false, loaded: loaded)
            promptText = prompt
        } else {
            (promptText, tokens) = try await server.prompt(chat: messages, loaded: loaded)
        }
        let options = body.options ?? Options()
        let generation = GenerationRequest(prompt: tokens,
                                           sampling: try options.sampling(format: body.format), maxTokens: options.maxTokens,
                                           stop: options.stop?.values ?? [])
        return .generate(GenerationPlan(request: generation, engine: loaded.engine, stream: body.stream ?? true,
                                        promptText: promptText, codec: OllamaCodec(model: server.modelID, shape: .generate)))
    }

    func chat(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(ChatBody.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        guard !body.messages.isEmpty else { throw APIError.badRequest("'messages' must hold at least one message", param: "messages") }
        let tools = try body.toolCalling()
        let messages = try ToolCalling.chatMessages(body.messages, tools: tools)
        let options = body.options ?? Options()
        var sampling = try options.sampling(format: body.format)
        sampling.grammar = tools?.grammar ?? sampling.grammar
        let (promptText, tokens) = try await server.prompt(chat: messages, loaded: loaded)
        let generation = GenerationRequest(prompt: tokens, sampling: sampling, maxTokens: options.maxTokens,
                                           stop: options.stop?.values ?? [])
        let codec = OllamaCodec(model: server.modelID, shape: .chat, tools: tools, toolReplies: tools.map { _ in ToolReplyDecoder() })
        return .generate(GenerationPlan(request: generation, engine: loaded.engine, stream: body.stream ?? true,
                                        promptText: promptText, codec: codec))
    }

    func embed(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(EmbedBody.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        guard !body.input.values.isEmpty, !body.input.values.contains(where: \.isEmpty) else {
            throw APIError.badRequest("'input' must hold non-empty text", param: "input")
        }
        let tokens = body.input.values.map { loaded.model.tokenize($0) }
        let vectors = try await loaded.engine.embed(tokens)
        return JSONBody.response(object: ["model": server.modelID, "embeddings": vectors.map { $0.map(Double.init) },
                                          "prompt_eval_count": tokens.reduce(0) { $0 + $1.count }])
    }

    /// Ollama's legacy embeddings: one `prompt`, one `embedding`.
    func legacyEmbeddings(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(LegacyEmbeddingsBody.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        guard !body.prompt.isEmpty else { throw APIError.badRequest("'prompt' must hold non-empty text", param: "prompt") }
        let vectors = try await loaded.engine.embed([loaded.model.tokenize(body.prompt)])
        return JSONBody.response(object: ["embedding": (vectors.first ?? []).map(Double.init)])
    }

    /// Ollama's model card: details, the GGUF's metadata as `model_info`, the default parameters,
    /// the chat template and what the model can do. Arrays (the vocabulary) are left out unless
    /// `verbose`, as Ollama does; this server keeps only their first entries in any case.
    func show(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(ShowBody.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        let gguf = loaded.model.gguf
        var info: [String: Any] = [:]
        for (key, value) in gguf.metadata {
            if case .array(_, let count, let preview) = value {
                info[key] = body.verbose == true && count == UInt64(preview.count) ? preview.map(Self.jsonValue) as Any : NSNull()
            } else {
                info[key] = Self.jsonValue(value)
            }
        }
        if info["general.parameter_count"] == nil { info["general.parameter_count"] = loaded.model.parameterCount }
        let defaults = SamplingParameters()
        let parameters = [
            ("temperature", "\(defaults.temperature)"), ("top_k", "\(defaults.topK)"), ("top_p", "\(defaults.topP)"),
            ("min_p", "\(defaults.minP)"), ("repeat_penalty", "\(defaults.repeatPenalty)"),
            ("repeat_last_n", "\(defaults.penaltyLastN)"), ("num_ctx", "\(loaded.engine.slotContextSize)"),
        ].map { $0.0.padding(toLength: 30, withPad: " ", startingAt: 0) + " " + $0.1 }.joined(separator: "\n")
        let template = loaded.formatter.template
        return JSONBody.response(object: [
            "modelfile": "# Served by gemmactl from \(URL(fileURLWithPath: loaded.model.path).lastPathComponent)\nFROM \(server.modelID)\n",
            "parameters": parameters,
            "template": template,
            "details": details(loaded),
            "model_info": info,
            "capabilities": Self.capabilities,
            "modified_at": Self.timestamp(loaded.loadedAt),
        ])
    }

    /// What the served model can do, in Ollama's words.
    static let capabilities = ["completion", "tools"]

    static func jsonValue(_ value: GGUFValue) -> Any {
        switch value {
        case .uint(let number, _): return number
        case .int(let number, _): return number
        case .float(let number, _): return number
        case .bool(let flag): return flag
        case .string(let text): return text
        case .array(_, _, let preview): return preview.map(jsonValue)
        }
    }

    private func details(_ loaded: ModelHost.Loaded) -> [String: Any] {
        let gguf = loaded.model.gguf
        return [
            "parent_model": "", "format": "gguf", "family": gguf.architecture ?? "", "families": [gguf.architecture ?? ""],
            "parameter_size": Self.parameterSize(loaded.model.parameterCount),
            // As Ollama names it: llama.cpp's file type, e.g. Q4_K_M.
            "quantization_level": (try? ModelSummary(gguf))?.fileType
                ?? loaded.model.summary.split(separator: " ").dropFirst(2).joined(separator: " "),
        ]
    }

    private func modelEntry() -> [String: Any] {
        var entry: [String: Any] = ["name": server.modelID, "model": server.modelID, "modified_at": Self.timestamp(server.startedAt)]
        if let loaded = server.host.loaded {
            entry["size"] = loaded.model.gguf.fileSize
            // Empty for the few seconds after loading while the file is hashed.
            entry["digest"] = loaded.digest.value ?? ""
            entry["details"] = details(loaded)
        }
        return entry
    }

    func tags() -> Response { JSONBody.response(object: ["models": [modelEntry()]]) }

    func ps() -> Response {
        guard let loaded = server.host.loaded else { return JSONBody.response(object: ["models": [Any]()]) }
        var entry = modelEntry()
        entry["context_length"] = loaded.engine.slotContextSize
        entry["size_vram"] = 0
        entry["expires_at"] = "2999-12-31T23:59:59Z"
        return JSONBody.response(object: ["models": [entry]])
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

    var streamFormat: StreamFormat { .ndjson }

    func encode(_ event: GenerationEvent) -> [String] {
        switch event {
        case .started, .promptProgress:
            return []
        case .text(let text, _, _):
            let content = toolReplies?.feed(text) ?? text
            return content.isEmpty ? [] : [streamFormat.line(json: JSONBody.string(object: line(content)))]
        case .finished(let stats):
            let last = streamFormat.line(json: JSONBody.string(object: final(stats, text: "")))
            guard let end = toolReplies?.finish(stats.finishReason), !end.content.isEmpty || !end.calls.isEmpty else { return [last] }
            return [streamFormat.line(json: JSONBody.string(object: line(end.content, calls: end.calls))), last]
        }
    }

    func response(_ result: CollectedGeneration) -> Response {
        let reply = ToolReply(text: result.text, finishReason: result.stats.finishReason, tools: tools)
        return JSONBody.response(object: final(result.stats, text: reply.content, calls: reply.calls))
    }

    private func payload(_ text: String, calls: [ToolCall]) -> [String: Any] {
        switch shape {
        case .generate: return ["response": text]
        case .chat:
            var message: [String: Any] = ["role": "assistant", "content": text]
            if !calls.isEmpty { message["tool_calls"] = calls.map(\.ollama) }
            return ["message": message]
        }
    }

    private func line(_ text: String, calls: [ToolCall] = []) -> [String: Any] {
        payload(text, calls: calls).merging(["model": model, "created_at": OllamaController.timestamp(), "done": false]) { $1 }
    }

    private func final(_ stats: GenerationStats, text: String, calls: [ToolCall] = []) -> [String: Any] {
        let total = stats.queueDuration + stats.promptDuration + stats.generationDuration
        return payload(text, calls: calls).merging([
            "model": model, "created_at": OllamaController.timestamp(), "done": true, "done_reason": stats.finishReason.rawValue,
            "total_duration": total.nanoseconds, "load_duration": 0,
            "prompt_eval_count": stats.promptTokens, "prompt_eval_duration": stats.promptDuration.nanoseconds,
            "eval_count": stats.completionTokens, "eval_duration": stats.generationDuration.nanoseconds,
        ]) { $1 }
    }
}
