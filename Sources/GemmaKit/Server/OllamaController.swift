import Foundation
import Hummingbird
import NIOCore

/// Ollama's API (/api/*), for Ollama clients pointed at gemmactl unchanged.
struct OllamaController: Sendable {
    typealias Context = ServeRequestContext
    let server: ServerCore

    func addRoutes(to router: Router<Context>) {
        router.post("/api/generate") { request, context in try await generate(request, context: context) }
        router.post("/api/chat") { request, context in try await chat(request, context: context) }
        router.post("/api/embed") { request, _ in try await embed(request) }
        router.get("/api/tags") { _, _ in tags() }
        router.get("/api/ps") { _, _ in ps() }
        router.get("/api/version") { _, _ in JSONBody.response(object: ["version": GemmactlVersion.current]) }
    }

    struct Options: Decodable {
        var temperature: Double?, topK: Int?, topP: Double?, minP: Double?, seed: Int64?, numPredict: Int?
        var stop: StringOrArray?, repeatPenalty: Double?, presencePenalty: Double?, frequencyPenalty: Double?, repeatLastN: Int?
        enum CodingKeys: String, CodingKey {
            case temperature, topK = "top_k", topP = "top_p", minP = "min_p", seed, numPredict = "num_predict", stop
            case repeatPenalty = "repeat_penalty", presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
            case repeatLastN = "repeat_last_n"
        }

        func sampling(format: String?) throws -> SamplingParameters {
            let grammar: String?
            switch format {
            case nil, "": grammar = nil
            case "json": grammar = JSONGrammar.object
            default: throw APIError.badRequest("'format' must be \"json\", got \"\(format!)\"", param: "format")
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
        var model: String?, prompt: String?, system: String?, raw: Bool?, stream: Bool?, format: String?, options: Options?
    }

    struct ChatBody: Decodable {
        var model: String?
        var messages: [ChatMessageBody]
        var stream: Bool?
        var format: String?
        var options: Options?
    }

    struct EmbedBody: Decodable {
        var model: String?
        var input: StringOrArray
    }

    func generate(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(GenerateBody.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        let prompt = body.prompt ?? ""
        if prompt.isEmpty {
            // Ollama answers an empty prompt by loading the model.
            return JSONBody.response(object: ["model": server.modelID, "created_at": Self.timestamp(), "response": "",
                                              "done": true, "done_reason": "load"])
        }
        var messages: [ChatMessage] = []
        if let system = body.system, !system.isEmpty { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: prompt))
        let raw = body.raw == true
        let text = raw ? prompt : loaded.formatter.format(messages)
        let options = body.options ?? Options()
        let generation = GenerationRequest(prompt: loaded.model.tokenize(text, addSpecial: true, parseSpecial: !raw),
                                           sampling: try options.sampling(format: body.format), maxTokens: options.maxTokens,
                                           stop: options.stop?.values ?? [])
        return try await answer(generation, engine: loaded.engine, stream: body.stream ?? true, context: context) { text, done in
            ["response": text]
        }
    }

    func chat(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(ChatBody.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        guard !body.messages.isEmpty else { throw APIError.badRequest("'messages' must hold at least one message", param: "messages") }
        let prompt = loaded.formatter.format(body.messages.map { ChatMessage(role: $0.role, content: $0.content?.text ?? "") })
        let options = body.options ?? Options()
        let generation = GenerationRequest(prompt: loaded.model.tokenize(prompt, addSpecial: true, parseSpecial: true),
                                           sampling: try options.sampling(format: body.format), maxTokens: options.maxTokens,
                                           stop: options.stop?.values ?? [])
        return try await answer(generation, engine: loaded.engine, stream: body.stream ?? true, context: context) { text, done in
            ["message": ["role": "assistant", "content": text]]
        }
    }

    /// Streams NDJSON lines (or one object) with Ollama's `done` and timing fields.
    private func answer(_ generation: GenerationRequest, engine: InferenceEngine, stream: Bool, context: Context,
                        payload: @escaping @Sendable (String, Bool) -> [String: Any]) async throws -> Response {
        let feed = try server.start(generation, engine: engine, streamed: stream)
        let model = server.modelID
        let server = self.server
        @Sendable func line(_ text: String) -> [String: Any] {
            payload(text, false).merging(["model": model, "created_at": Self.timestamp(), "done": false]) { $1 }
        }
        @Sendable func final(_ stats: GenerationStats, text: String) -> [String: Any] {
            server.metrics.record(stats)
            let total = stats.queueDuration + stats.promptDuration + stats.generationDuration
            return payload(text, true).merging([
                "model": model, "created_at": Self.timestamp(), "done": true, "done_reason": stats.finishReason.rawValue,
                "total_duration": total.nanoseconds, "load_duration": 0,
                "prompt_eval_count": stats.promptTokens, "prompt_eval_duration": stats.promptDuration.nanoseconds,
                "eval_count": stats.completionTokens, "eval_duration": stats.generationDuration.nanoseconds,
            ]) { $1 }
        }
        if stream {
            return server.ndjson(feed, on: context.eventLoop) { event in
                switch event {
                case .started: return []
                case .text(let text, _): return text.isEmpty ? [] : [Self.json(line(text))]
                case .finished(let stats): return [Self.json(final(stats, text: ""))]
                }
            }
        }
        let result = try await server.collect(feed)
        return JSONBody.response(object: final(result.stats, text: result.text))
    }

    func embed(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(EmbedBody.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
        guard !body.input.values.isEmpty, !body.input.values.contains(where: \.isEmpty) else {
            throw APIError.badRequest("'input' must hold non-empty text", param: "input")
        }
        let tokens = body.input.values.map { loaded.model.tokenize($0) }
        do {
            let vectors = try await loaded.embedder.embed(tokens)
            return JSONBody.response(object: ["model": server.modelID, "embeddings": vectors.map { $0.map(Double.init) },
                                              "prompt_eval_count": tokens.reduce(0) { $0 + $1.count }])
        } catch let error as EngineError {
            throw APIError.from(error)
        }
    }

    private func modelEntry() -> [String: Any] {
        var entry: [String: Any] = ["name": server.modelID, "model": server.modelID, "modified_at": Self.timestamp(server.startedAt)]
        if let loaded = server.host.loaded {
            let gguf = loaded.model.gguf
            entry["size"] = gguf.fileSize
            entry["digest"] = ""
            entry["details"] = [
                "format": "gguf", "family": gguf.architecture ?? "", "families": [gguf.architecture ?? ""],
                "parameter_size": Self.parameterSize(loaded.model.parameterCount),
                "quantization_level": loaded.model.summary.split(separator: " ").dropFirst(2).joined(separator: " "),
            ]
        }
        return entry
    }

    func tags() -> Response { JSONBody.response(object: ["models": [modelEntry()]]) }

    func ps() -> Response {
        guard server.host.loaded != nil else { return JSONBody.response(object: ["models": [Any]()]) }
        var entry = modelEntry()
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

    static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
