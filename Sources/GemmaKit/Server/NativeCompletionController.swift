import Foundation
import Hummingbird

/// llama-server's native completion API: `POST /completion` (and `/completions` without /v1),
/// answered in its own shape (`content`, `stop_type`, `timings`, …), not OpenAI's.
struct NativeCompletionController: Sendable {
    let server: ServerCore

    var endpoints: [Endpoint] {
        let pipeline = GenerationPipeline(server: server)
        return ["/completion", "/completions"].map { path in
            pipeline.endpoint(path) { request, _ in try await complete(request) }
        }
    }

    func complete(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(NativeCompletionRequest.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try await server.requireModel(named: body.model)
        let prompts = try NativePrompt.parse(body.prompt)
        try server.checkFits(bytes: prompts.map(\.textBytes).max() ?? 0, loaded: loaded)
        let model = loaded.model
        let tokenized = await ServerCore.offCooperativePool { prompts.map { $0.tokens(model: model) } }
        let vocabulary = Token(model.vocabularySize)
        for (index, tokens) in tokenized.enumerated() {
            let field = prompts.count == 1 ? "prompt" : "prompt[\(index)]"
            if tokens.isEmpty { throw APIError.badRequest("'\(field)' is empty", param: "prompt") }
            if let bad = tokens.first(where: { $0 >= vocabulary }) {
                throw APIError.badRequest("'\(field)' holds token \(bad), not in the model's vocabulary (0..<\(vocabulary))", param: "prompt")
            }
        }
        let choices = try Choices.count(body.sampling.n, slotCount: loaded.engine.slotCount)
        var template = GenerationRequest(prompt: [], sampling: try body.sampling.sampling(defaults: server.sampling),
                                         maxTokens: try body.predictionLimit(serverDefault: server.maxTokens(nil)),
                                         stop: try body.sampling.stopStrings())
        try body.llama.apply(to: &template, model: model, slotCount: loaded.engine.slotCount)
        let requests = tokenized.flatMap { tokens in
            var request = template
            request.prompt = tokens
            return Choices.requests(request, count: choices)
        }
        let stream = body.sampling.stream == true
        let codec = NativeCompletionCodec(
            model: loaded.modelID, loadedModel: model, requests: requests, stream: stream, returnTokens: body.llama.returnTokens == true,
            reporting: StreamReporting(body.llama, choices: requests.count),
            prompts: requests.map { model.detokenize($0.prompt, renderSpecial: true) })
        let text = prompts.count == 1 ? model.detokenize(requests[0].prompt, renderSpecial: true) : "\(prompts.count) prompts"
        return .generate(GenerationPlan(requests: requests, on: loaded, stream: stream, promptText: text, codec: codec))
    }
}

/// A `/completion` request: OpenAI's sampling fields, llama-server's extensions, and `prompt`
/// in any shape llama-server reads (see `NativePrompt`).
struct NativeCompletionRequest: Decodable {
    var model: String?
    var prompt: JSONValue
    var nPredict: Int?
    var sampling: SamplingFields
    var llama: LlamaRequestFields

    enum CodingKeys: String, CodingKey { case model, prompt, nPredict = "n_predict" }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        prompt = try container.decode(JSONValue.self, forKey: .prompt)
        nPredict = try container.decodeIfPresent(Int.self, forKey: .nPredict)
        sampling = try SamplingFields(from: decoder)
        llama = try LlamaRequestFields(from: decoder)
    }

    /// `n_predict` (or `max_tokens`); -1: until the end of generation or the context is full; absent:
    /// the server's default.
    func predictionLimit(serverDefault: Int?) throws -> Int? {
        guard let limit = try nPredict ?? sampling.maxTokens(field: "n_predict") else { return serverDefault }
        guard limit >= -1 else { throw APIError.badRequest("'n_predict' must be -1 (no limit) or more, got \(limit)", param: "n_predict") }
        return limit == -1 ? nil : limit
    }
}

/// One prompt of a `/completion` request: text and token ids in order.
struct NativePrompt: Sendable {
    enum Part: Sendable {
        case text(String)
        case token(Token)
    }
    var parts: [Part]

    var textBytes: Int {
        parts.reduce(0) { total, part in if case .text(let text) = part { total + text.utf8.count } else { total + 4 } }
    }

    /// The prompts of `prompt` as llama-server's `tokenize_input_prompts` reads it: a string; an
    /// array holding any number is one prompt of ids and strings; any other array is several
    /// prompts, each a string, an array of ids and strings, or `{"prompt_string": …}`.
    static func parse(_ prompt: JSONValue) throws -> [NativePrompt] {
        func bad(_ field: String) -> APIError {
            APIError.badRequest("'\(field)' must be a string, an array of token ids, a mix of both, or {\"prompt_string\": …}", param: "prompt")
        }
        func single(_ value: JSONValue, field: String) throws -> NativePrompt {
            switch value {
            case .string(let text):
                return NativePrompt(parts: [.text(text)])
            case .array(let elements):
                return NativePrompt(parts: try elements.enumerated().map { index, element in
                    switch element {
                    case .string(let text): return .text(text)
                    case .integer(let id) where id >= 0 && id <= Int64(Int32.max): return .token(Token(id))
                    default: throw bad("\(field)[\(index)]")
                    }
                })
            case .object(let members):
                guard members["multimodal_data"] == nil else {
                    throw APIError.badRequest("'\(field).multimodal_data' is not supported: this server runs text models only", param: "prompt")
                }
                guard let inner = members["prompt_string"], case .string = inner else { throw bad(field) }
                return try single(inner, field: "\(field).prompt_string")
            default:
                throw bad(field)
            }
        }
        switch prompt {
        case .array(let elements) where !elements.contains(where: { if case .integer = $0 { true } else { false } }):
            guard !elements.isEmpty else { throw APIError.badRequest("'prompt' must not be empty", param: "prompt") }
            return try elements.enumerated().map { try single($1, field: "prompt[\($0)]") }
        default:
            return [try single(prompt, field: "prompt")]
        }
    }

    /// The prompt's tokens: BOS first only when it starts with text (as llama-server), special
    /// tokens written as text parsed as such.
    func tokens(model: LlamaModel) -> [Token] {
        var tokens: [Token] = []
        for (index, part) in parts.enumerated() {
            switch part {
            case .text(let text): tokens += model.tokenize(text, addSpecial: index == 0, parseSpecial: true)
            case .token(let id): tokens.append(id)
            }
        }
        return tokens
    }
}

/// llama-server's native answer: one object per choice (an array when there are several),
/// streamed as `data:` lines of partial objects and a last one with `stop: true`, no `[DONE]`.
struct NativeCompletionCodec: GenerationCodec {
    let model: String
    /// For the biases `ignore_eos` adds (its end-of-generation tokens).
    let loadedModel: LlamaModel
    let requests: [GenerationRequest]
    let stream: Bool
    let returnTokens: Bool
    let reporting: StreamReporting
    /// Each choice's prompt as text, special tokens included.
    let prompts: [String]

    var streamFormat: StreamFormat { .serverSentEvents }

    func encode(_ event: GenerationEvent) -> [String] { encode(event, choice: 0) }

    func encode(_ event: GenerationEvent, choice: Int) -> [String] {
        let timings = reporting.timings(event, choice: choice)
        switch event {
        case .started:
            return []
        case .promptProgress(let progress):
            return reporting.progress ? [line(partial(choice: choice, content: "", tokens: [], timings: timings, progress: progress))] : []
        case .text(let content, let logprobs, let tokens):
            return [line(partial(choice: choice, content: content, tokens: tokens, logprobs: logprobs, timings: timings))]
        case .finished(let stats):
            return [line(final(CollectedGeneration(stats: stats), choice: choice))]
        }
    }

    func response(_ result: CollectedGeneration) -> Response { response([result]) }

    func response(_ results: [CollectedGeneration]) -> Response {
        let objects = results.enumerated().map { final($1, choice: $0) }
        return objects.count == 1 ? JSONBody.response(objects[0]) : JSONBody.response(objects)
    }

    /// A streamed object before the last, read after `reporting` saw its event.
    func partial(choice: Int, content: String, tokens: [Token], logprobs: [TokenLogprob] = [], timings: LlamaTimings? = nil,
                 progress: PromptProgress? = nil) -> NativePartial {
        NativePartial(
            index: choice, content: content, tokens: tokens, tokensPredicted: reporting.timers[choice].predicted,
            tokensEvaluated: requests[choice].prompt.count, timings: timings, promptProgress: progress.map(PromptProgressJSON.init),
            completionProbabilities: requests[choice].logprobs != nil && !logprobs.isEmpty ? logprobs.map(NativeProbability.init) : nil)
    }

    /// The last object of a choice: whole (`content` and `tokens` empty when streamed, as they went before).
    func final(_ result: CollectedGeneration, choice: Int) -> NativeFinal {
        let stats = result.stats
        let request = requests[choice]
        let sampling = request.sampling
        let settings = NativeFinal.Settings(
            seed: sampling.seed.map { Int($0) } ?? Int(UInt32.max), temperature: sampling.temperature, topK: sampling.topK,
            topP: sampling.topP, minP: sampling.minP, repeatLastN: sampling.penaltyLastN, repeatPenalty: sampling.repeatPenalty,
            presencePenalty: sampling.presencePenalty, frequencyPenalty: sampling.frequencyPenalty, stop: request.stop,
            maxTokens: request.maxTokens ?? -1, nPredict: request.maxTokens ?? -1, ignoreEOS: sampling.ignoreEOS, stream: stream,
            // `ignore_eos` shows as the bans it adds, as in llama-server.
            logitBias: sampling.appliedLogitBias(model: loadedModel).map { .init(token: Int($0.token), bias: $0.bias.isFinite ? Double($0.bias) : nil) },
            nProbs: request.logprobs ?? 0, grammar: sampling.grammar ?? "", timingsPerToken: reporting.timingsPerToken)
        return NativeFinal(
            index: choice, content: result.text, tokens: returnTokens ? result.tokens : [], idSlot: stats.slot, model: model,
            tokensPredicted: stats.completionTokens, tokensEvaluated: stats.promptTokens, generationSettings: settings,
            prompt: prompts[choice], hasNewLine: result.text.contains("\n"), stopType: stats.stopType.rawValue,
            stoppingWord: stats.stoppingWord, tokensCached: stats.contextTokens, timings: LlamaTimings(stats),
            completionProbabilities: !stream && request.logprobs != nil && !result.logprobs.isEmpty
                ? result.logprobs.map(NativeProbability.init) : nil)
    }
}

// MARK: Wire types

/// A streamed piece of a choice; `timings`, `prompt_progress` and `completion_probabilities`
/// only when asked for.
struct NativePartial: Encodable {
    let index: Int, content: String, tokens: [Token]
    let stop = false
    let idSlot = -1
    let tokensPredicted: Int, tokensEvaluated: Int
    let timings: LlamaTimings?
    let promptProgress: PromptProgressJSON?
    let completionProbabilities: [NativeProbability]?
}

/// llama-server's `__verbose` in an OpenAI answer (with `-v` or a request's `verbose`): the
/// native object the same event would have been.
enum NativeVerbose: Encodable {
    case partial(NativePartial)
    case final(NativeFinal)

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .partial(let object): try object.encode(to: encoder)
        case .final(let object): try object.encode(to: encoder)
        }
    }
}

/// A choice's last object, with the settings it ran with.
struct NativeFinal: Encodable {
    let index: Int, content: String, tokens: [Token], idSlot: Int
    let stop = true
    let model: String, tokensPredicted: Int, tokensEvaluated: Int
    let generationSettings: Settings
    let prompt: String, hasNewLine: Bool
    let truncated = false
    let stopType: String, stoppingWord: String, tokensCached: Int
    let timings: LlamaTimings
    let completionProbabilities: [NativeProbability]?

    /// The settings a choice ran with, named as llama-server names them (only those gemmactl honours).
    struct Settings: Encodable {
        let seed: Int, temperature: Double, topK: Int, topP: Double, minP: Double, repeatLastN: Int
        let repeatPenalty: Double, presencePenalty: Double, frequencyPenalty: Double
        let stop: [String]
        let maxTokens: Int, nPredict: Int, ignoreEOS: Bool, stream: Bool
        let logitBias: [Bias]
        let nProbs: Int, grammar: String, timingsPerToken: Bool
        let postSamplingProbs = false
        let samplers = ["penalties", "top_k", "top_p", "min_p", "temperature"]

        /// JSON has no -infinity: a ban is written as llama-server's JSON library writes it, null.
        struct Bias: Encodable {
            let token: Int
            @WrittenAsNull var bias: Double? = nil
        }
    }
}

/// `completion_probabilities`: a token with its id, text, bytes, log-probability and the most
/// likely alternatives (before sampling).
struct NativeProbability: Encodable {
    struct Alternative: Encodable {
        let id: Token, token: String, bytes: [UInt8], logprob: Double
    }
    let id: Token, token: String, bytes: [UInt8], logprob: Double
    let topLogprobs: [Alternative]

    init(_ entry: TokenLogprob) {
        id = entry.id
        token = entry.token
        bytes = entry.bytes
        logprob = entry.logprob
        topLogprobs = entry.top.map { Alternative(id: $0.id, token: $0.token, bytes: $0.bytes, logprob: $0.logprob) }
    }
}
