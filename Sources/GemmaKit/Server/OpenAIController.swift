import Foundation
import Hummingbird
import Logging
import NIOCore

/// The OpenAI-compatible API: chat completions, completions and models (embeddings: `EmbeddingsController`).
struct OpenAIController: Sendable {
    let server: ServerCore

    var endpoints: [Endpoint] {
        let pipeline = GenerationPipeline(server: server)
        // `/completions` without /v1 is llama-server's native completion (`NativeCompletionController`).
        return ["/v1", ""].flatMap { prefix in [
            pipeline.endpoint("\(prefix)/chat/completions") { request, _ in try await chat(request) },
            Endpoint(.get, "\(prefix)/models") { _, _ in models() },
        ] } + [
            pipeline.endpoint("/v1/completions") { request, _ in try await completions(request) },
        ]
    }

    // MARK: Chat

    func chat(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(ChatCompletionRequest.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try await server.requireModel(named: body.model)
        let rendered = try await server.render(chat: body, loaded: loaded)
        let tools = rendered.tools
        let native = rendered.native
        let choices = try Choices.count(body.sampling.n, slotCount: loaded.engine.slotCount)
        if tools != nil || (native != nil && !(body.tools ?? []).isEmpty), choices > 1 {
            throw APIError.badRequest("'n' must be 1 when tools are offered, got \(choices)", param: "n")
        }
        if !(body.tools ?? []).isEmpty, body.toolChoice != .string("none"), body.llama.grammar != nil {
            // The tools' own grammar constrains the reply; a second one cannot be combined with it.
            throw APIError.badRequest("'grammar' cannot be combined with 'tools': the tools' grammar constrains the reply "
                                      + "(llama-server: \"Cannot use custom grammar constraints with tools.\"); drop one of them",
                                      param: "grammar")
        }
        let grammar = try tools?.grammar ?? (native?.grammar == nil ? body.responseFormat?.grammar() : nil)
        let (prompt, promptTokens) = (rendered.text, rendered.tokens)
        var topLogprobs: Int?
        if body.logprobs == true {
            let count = body.topLogprobs ?? 0
            guard (0...20).contains(count) else { throw APIError.badRequest("'top_logprobs' must be between 0 and 20, got \(count)", param: "top_logprobs") }
            topLogprobs = count
        }
        var generation = GenerationRequest(
            prompt: promptTokens, sampling: try body.sampling.sampling(grammar: grammar, defaults: server.sampling),
            maxTokens: server.maxTokens(try body.sampling.maxTokens()), stop: try body.sampling.stopStrings(), logprobs: topLogprobs)
        try native?.prepare(&generation, model: loaded.model, thinkingBudget: body.thinkingBudget ?? server.configuration.reasoningBudget)
        try body.llama.apply(to: &generation, model: loaded.model, slotCount: loaded.engine.slotCount)
        let requests = Choices.requests(generation, count: choices)
        let reporting = StreamReporting(body.llama, choices: choices)
        let codec = ChatCompletionCodec(identity: ResponseIdentity(prefix: "chatcmpl-", model: loaded.modelID),
                                        wantsLogprobs: generation.logprobs != nil,
                                        includeUsage: body.sampling.streamOptions?.includeUsage == true, reporting: reporting,
                                        verbose: verbose(body.llama, requests: requests, stream: body.sampling.stream == true,
                                                         reporting: reporting, loaded: loaded),
                                        toolReplies: tools.map { _ in ToolReplyDecoder() }, tools: tools,
                                        nativeReplies: try native.map { try NativeReplyDecoder($0, choices: choices) })
        return .generate(GenerationPlan(requests: requests, on: loaded,
                                        stream: body.sampling.stream == true, promptText: prompt, codec: codec))
    }

    // MARK: Completions

    func completions(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(CompletionRequest.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try await server.requireModel(named: body.model)
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
            sampling: try body.sampling.sampling(defaults: server.sampling),
            maxTokens: server.maxTokens(try body.sampling.maxTokens(), apiDefault: 16),
            stop: try body.sampling.stopStrings(), logprobs: body.logprobs)
        try body.llama.apply(to: &generation, model: loaded.model, slotCount: loaded.engine.slotCount)
        let requests = Choices.requests(generation, count: choices)
        let reporting = StreamReporting(body.llama, choices: choices)
        let codec = CompletionCodec(identity: ResponseIdentity(prefix: "cmpl-", model: loaded.modelID),
                                    echo: body.echo == true ? prompt : "", wantsLogprobs: generation.logprobs != nil,
                                    includeUsage: body.sampling.streamOptions?.includeUsage == true, reporting: reporting,
                                    verbose: verbose(body.llama, requests: requests, stream: body.sampling.stream == true,
                                                     reporting: reporting, loaded: loaded))
        return .generate(GenerationPlan(requests: requests, on: loaded,
                                        stream: body.sampling.stream == true, promptText: prompt, codec: codec))
    }

    /// What writes llama-server's `__verbose` (the native answer) into an answer, when the server
    /// runs with `-v` or the request sets `verbose`; it shares the answer's clocks.
    private func verbose(_ fields: LlamaRequestFields, requests: [GenerationRequest], stream: Bool, reporting: StreamReporting,
                         loaded: ModelHost.Loaded) -> NativeCompletionCodec? {
        guard fields.verbose ?? server.configuration.verboseAnswers else { return nil }
        return NativeCompletionCodec(model: loaded.modelID, loadedModel: loaded.model, requests: requests, stream: stream,
                                     returnTokens: fields.returnTokens == true, reporting: reporting,
                                     prompts: requests.map { loaded.model.detokenize($0.prompt, renderSpecial: true) })
    }

    // MARK: Models

    /// Every model served; with several, or one that sleeps when idle, each with llama-server's router `status`.
    func models() -> Response {
        let registry = server.registry
        return JSONBody.response(OpenAIModelList(data: registry.hosts.map { host in
            let loaded = host.loaded
            return OpenAIModel(
                id: host.modelID, created: Int((loaded?.loadedAt ?? server.startedAt).timeIntervalSince1970),
                aliases: host.configuration.aliases, tags: host.configuration.tags,
                meta: loaded.map { loaded in
                    OpenAIModel.Meta(nParams: loaded.model.parameterCount, size: loaded.model.sizeInBytes,
                                     nCtxTrain: loaded.model.contextTrainSize, nEmbd: loaded.model.embeddingSize,
                                     nVocab: loaded.model.vocabularySize, nCtxSlot: loaded.engine.slotContextSize)
                },
                status: registry.isRouting || registry.sleepsWhenIdle
                    ? OpenAIModel.Status(host, loads: registry.loadCount(host), sleeping: registry.isSleeping(host)) : nil)
        }))
    }
}

struct OpenAIModelList: Encodable {
    let object = "list"
    let data: [OpenAIModel]
}

/// The served model; `meta` (llama-server's) only once it is loaded.
struct OpenAIModel: Encodable {
    let id: String
    let object = "model"
    let ownedBy = "gemmactl"
    let created: Int
    let aliases: [String]
    let tags: [String]
    let meta: Meta?
    /// llama-server's router status, when the server serves several models.
    let status: Status?

    struct Meta: Encodable {
        let nParams: UInt64, size: UInt64, nCtxTrain: Int, nEmbd: Int, nVocab: Int, nCtxSlot: Int
    }

    /// `{"value": "unloaded" | "loading" | "loaded" | "sleeping", "failed": true}` as llama-server's
    /// router, and gemmactl's count of loads started (`loads`).
    struct Status: Encodable {
        let value: String
        var failed: Bool?
        let loads: Int

        init(_ host: ModelHost, loads: Int, sleeping: Bool) {
            let state = host.current
            if case .unloaded = state, sleeping { value = "sleeping" } else { value = state.name }
            failed = state.isFailed ? true : nil
            self.loads = loads
        }
    }
}
