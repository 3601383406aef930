import Foundation
import Synchronization

/// llama-server's request fields beyond OpenAI's, read the same way by its native `/completion`
/// and by the OpenAI endpoints: constrained decoding, log-probabilities, logit bias, slot and
/// cache control, and what the answer reports.
struct LlamaRequestFields: Decodable {
    var nProbs: Int?
    var postSamplingProbs: Bool?
    var logitBias: JSONValue?
    var ignoreEOS: Bool?
    var cachePrompt: Bool?
    var idSlot: Int?
    var returnTokens: Bool?
    var timingsPerToken: Bool?
    var returnProgress: Bool?
    var repeatLastN: Int?
    var grammar: String?
    var jsonSchema: JSONValue?

    enum CodingKeys: String, CodingKey {
        case nProbs = "n_probs", postSamplingProbs = "post_sampling_probs", logitBias = "logit_bias"
        case ignoreEOS = "ignore_eos", cachePrompt = "cache_prompt", idSlot = "id_slot", returnTokens = "return_tokens"
        case timingsPerToken = "timings_per_token", returnProgress = "return_progress", repeatLastN = "repeat_last_n"
        case grammar, jsonSchema = "json_schema"
    }

    /// Most alternatives per token `n_probs` may ask for.
    static let maxProbabilities = 20

    /// `n_probs` checked: nil when not asked (0 is none, as llama-server).
    func probabilities() throws -> Int? {
        if postSamplingProbs == true {
            throw APIError.badRequest("'post_sampling_probs' is not supported; leave it out to get log-probabilities before sampling",
                                      param: "post_sampling_probs")
        }
        guard let nProbs else { return nil }
        guard (0...Self.maxProbabilities).contains(nProbs) else {
            throw APIError.badRequest("'n_probs' must be between 0 and \(Self.maxProbabilities), got \(nProbs)", param: "n_probs")
        }
        return nProbs == 0 ? nil : nProbs
    }

    /// The grammar `grammar` (GBNF) or `json_schema` asks for; `grammar` wins when both are set,
    /// as in llama-server. An empty schema means any object.
    func constraint() throws -> String? {
        if let grammar, !grammar.isEmpty { return grammar }
        guard let jsonSchema else { return nil }
        if jsonSchema.objectValue?.isEmpty == true { return JSONGrammar.object }
        return try StructuredOutput.grammar(schema: jsonSchema, field: "json_schema")
    }

    /// `logit_bias` as engine entries: `[[token, bias], …]` or `{"token": bias}`, a token given by
    /// id or as text (each of the text's tokens gets the bias), `false` as bias bans it.
    func biases(model: LlamaModel) throws -> [SamplingParameters.LogitBias] {
        guard let logitBias else { return [] }
        let vocabulary = model.vocabularySize
        func bias(_ value: JSONValue, at field: String) throws -> Float {
            switch value {
            case .integer(let number): return Float(number)
            case .number(let number) where number.isFinite: return Float(number)
            case .bool(false): return -.infinity
            default: throw APIError.badRequest("'\(field)' must be a number, or false to ban the token", param: "logit_bias")
            }
        }
        func tokens(_ key: JSONValue, at field: String) throws -> [Token] {
            switch key {
            case .integer(let id):
                guard id >= 0, id < Int64(vocabulary) else {
                    throw APIError.badRequest("'\(field)' is token \(id), not in the model's vocabulary (0..<\(vocabulary))", param: "logit_bias")
                }
                return [Token(id)]
            case .string(let text):
                if let id = Int64(text) { return try tokens(.integer(id), at: field) }
                return model.tokenize(text, addSpecial: false)
            default:
                throw APIError.badRequest("'\(field)' must be a token id or a string", param: "logit_bias")
            }
        }
        var entries: [SamplingParameters.LogitBias] = []
        switch logitBias {
        case .array(let pairs):
            for (index, pair) in pairs.enumerated() {
                guard case .array(let members) = pair, members.count == 2 else {
                    throw APIError.badRequest("'logit_bias[\(index)]' must be a [token, bias] pair", param: "logit_bias")
                }
                let value = try bias(members[1], at: "logit_bias[\(index)][1]")
                entries += try tokens(members[0], at: "logit_bias[\(index)][0]").map { .init(token: $0, bias: value) }
            }
        case .object(let members):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                let value = try bias(member, at: "logit_bias.\(key)")
                entries += try tokens(.string(key), at: "logit_bias.\(key)").map { .init(token: $0, bias: value) }
            }
        default:
            throw APIError.badRequest("'logit_bias' must be an array of [token, bias] pairs or an object of token: bias",
                                      param: "logit_bias")
        }
        return entries
    }

    /// `id_slot` checked against the server's slots; -1 (or absent) is any.
    func slot(slotCount: Int) throws -> Int? {
        guard let idSlot, idSlot != -1 else { return nil }
        guard (0..<slotCount).contains(idSlot) else {
            throw APIError.badRequest("'id_slot' must be between 0 and \(slotCount - 1), or -1 for any slot; got \(idSlot)", param: "id_slot")
        }
        return idSlot
    }

    /// `request` with these fields applied: the sampling extensions (grammar only when the
    /// request has none of its own, from tools or `response_format`), slot and cache control.
    func apply(to request: inout GenerationRequest, model: LlamaModel, slotCount: Int) throws {
        if request.sampling.grammar == nil { request.sampling.grammar = try constraint() }
        request.sampling.logitBias = try biases(model: model)
        request.sampling.ignoreEOS = ignoreEOS ?? false
        if let repeatLastN {
            guard repeatLastN >= -1 else {
                throw APIError.badRequest("'repeat_last_n' must be -1 (the whole context) or more, got \(repeatLastN)", param: "repeat_last_n")
            }
            request.sampling.penaltyLastN = repeatLastN
        }
        request.slot = try slot(slotCount: slotCount)
        request.cachePrompt = cachePrompt ?? true
        request.reportsProgress = returnProgress ?? false
        if request.logprobs == nil { request.logprobs = try probabilities() }
    }
}

/// OpenAI's `n` (llama-server's `n_cmpl`): how many choices to generate, at most one per slot
/// as llama-server allows, so they run side by side.
enum Choices {
    static func count(_ n: Int?, slotCount: Int) throws -> Int {
        guard let n else { return 1 }
        guard (1...slotCount).contains(n) else {
            throw APIError.badRequest("'n' must be between 1 and \(slotCount) (this server's --parallel slots), got \(n)", param: "n")
        }
        return n
    }

    /// `request` once per choice: choices after the first get the next seeds (so a fixed seed
    /// does not give n copies) and no pinned slot, as llama-server's child tasks.
    static func requests(_ request: GenerationRequest, count: Int) -> [GenerationRequest] {
        (0..<count).map { choice in
            var copy = request
            guard choice > 0 else { return copy }
            copy.slot = nil
            copy.sampling.seed = request.sampling.seed.map { $0 &+ UInt32(choice) }
            return copy
        }
    }
}

/// llama-server's `timings` object.
struct LlamaTimings: Encodable {
    let cacheN: Int
    let promptN: Int
    let promptMs: Double
    let promptPerTokenMs: Double
    let promptPerSecond: Double
    let predictedN: Int
    let predictedMs: Double
    let predictedPerTokenMs: Double
    let predictedPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case cacheN = "cache_n", promptN = "prompt_n", promptMs = "prompt_ms", promptPerTokenMs = "prompt_per_token_ms"
        case promptPerSecond = "prompt_per_second", predictedN = "predicted_n", predictedMs = "predicted_ms"
        case predictedPerTokenMs = "predicted_per_token_ms", predictedPerSecond = "predicted_per_second"
    }

    init(cached: Int, evaluated: Int, promptTime: Duration, predicted: Int, predictionTime: Duration) {
        func milliseconds(_ duration: Duration) -> Double { duration.seconds * 1000 }
        cacheN = cached
        promptN = evaluated
        promptMs = milliseconds(promptTime)
        promptPerTokenMs = evaluated > 0 ? promptMs / Double(evaluated) : 0
        promptPerSecond = promptMs > 0 ? Double(evaluated) * 1000 / promptMs : 0
        predictedN = predicted
        predictedMs = milliseconds(predictionTime)
        predictedPerTokenMs = predicted > 0 ? predictedMs / Double(predicted) : 0
        predictedPerSecond = predictedMs > 0 ? Double(predicted) * 1000 / predictedMs : 0
    }

    /// A finished generation's.
    init(_ stats: GenerationStats) {
        self.init(cached: stats.cachedTokens, evaluated: stats.promptTokens - stats.cachedTokens, promptTime: stats.promptDuration,
                  predicted: stats.completionTokens, predictionTime: stats.generationDuration)
    }
}

/// The clock behind `timings_per_token` and prompt progress for one streamed choice: the engine
/// reports timings once, at the end, so a stream's running timings are measured where its events
/// arrive (the same events, a hop later).
final class StreamTimer: Sendable {
    private struct State {
        var started: ContinuousClock.Instant?
        var firstToken: ContinuousClock.Instant?
        var promptTokens = 0
        var cached = 0
        var predicted = 0
    }
    private let state = Mutex(State())

    /// Call for every event; returns the timings so far.
    func observe(_ event: GenerationEvent) -> LlamaTimings {
        state.withLock { state in
            let now = ContinuousClock.now
            switch event {
            case .started(_, let promptTokens, let cached):
                state.started = now
                state.promptTokens = promptTokens
                state.cached = cached
            case .text(_, _, let tokens):
                if state.firstToken == nil { state.firstToken = now }
                state.predicted += tokens.count
            case .promptProgress, .finished:
                break
            }
            let started = state.started ?? now
            let promptEnd = state.firstToken ?? now
            return LlamaTimings(cached: state.cached, evaluated: state.firstToken == nil ? 0 : state.promptTokens - state.cached,
                                promptTime: promptEnd - started, predicted: state.predicted,
                                predictionTime: state.firstToken.map { now - $0 } ?? .zero)
        }
    }

    /// Tokens generated so far.
    var predicted: Int { state.withLock { $0.predicted } }
}

/// llama-server's `prompt_progress` object.
struct PromptProgressJSON: Encodable {
    let total: Int, cache: Int, processed: Int
    let timeMs: Int
    enum CodingKeys: String, CodingKey { case total, cache, processed, timeMs = "time_ms" }
    init(_ progress: PromptProgress) {
        total = progress.total
        cache = progress.cached
        processed = progress.processed
        timeMs = Int(progress.elapsed.seconds * 1000)
    }
}

/// llama-server's `system_fingerprint`: the llama.cpp build.
enum SystemFingerprint {
    static let value = "llama.cpp-\(LlamaBackend.buildCommit)"
}
