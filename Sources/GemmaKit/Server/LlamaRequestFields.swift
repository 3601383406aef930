import Foundation

/// llama-server's request fields beyond OpenAI's, read the same way by its native `/completion`
/// and by the OpenAI endpoints: constrained decoding, log-probabilities, logit bias, slot and
/// cache control, and what the answer reports.
struct LlamaRequestFields: Decodable {
    var nProbs: Int?, postSamplingProbs: Bool?, logitBias: JSONValue?, ignoreEOS: Bool?, repeatLastN: Int?
    var cachePrompt: Bool?, idSlot: Int?
    var returnTokens: Bool?, timingsPerToken: Bool?, returnProgress: Bool?
    var grammar: String?, jsonSchema: ClientJSON?
    /// Answer with llama-server's `__verbose` (as the server's `-v` does for every request).
    var verbose: Bool?

    enum CodingKeys: String, CodingKey {
        case nProbs = "n_probs", postSamplingProbs = "post_sampling_probs", logitBias = "logit_bias"
        case ignoreEOS = "ignore_eos", cachePrompt = "cache_prompt", idSlot = "id_slot", returnTokens = "return_tokens"
        case timingsPerToken = "timings_per_token", returnProgress = "return_progress", repeatLastN = "repeat_last_n"
        case grammar, jsonSchema = "json_schema", verbose
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
        if jsonSchema.value.objectValue?.isEmpty == true { return JSONGrammar.object }
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
