import CLlama
import CLlamaCommon
import Foundation

/// How the next token is chosen. Defaults follow llama-server's.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 means greedy (always the most likely token).
    public var temperature: Double = 0.8
    /// 0 disables.
    public var topK: Int = 40
    /// 1 disables.
    public var topP: Double = 0.95
    /// 0 disables.
    public var minP: Double = 0.05
    /// 1 disables.
    public var repeatPenalty: Double = 1.0
    /// 0 disables.
    public var presencePenalty: Double = 0
    /// 0 disables.
    public var frequencyPenalty: Double = 0
    /// How many recent tokens the penalties look at.
    public var penaltyLastN: Int = 64
    /// nil picks a random seed.
    public var seed: UInt32?
    /// A GBNF grammar the output must match (root rule `root`).
    public var grammar: String?
    /// nil: the grammar applies from the first token; otherwise only once a trigger appears
    /// (llama.cpp's lazy grammar, as a chat template's tool-call grammar is used).
    public var grammarTriggers: GrammarTriggers?
    /// Tokens the prompt already ends with that the grammar starts from (a chat template's
    /// generation prompt), fed to a grammar that applies from the first token before sampling.
    public var grammarPrefill: [Token] = []
    /// Added to a token's logit before sampling; -infinity bans it.
    public var logitBias: [LogitBias] = []
    /// Never end at an end-of-generation token (they are banned): stop at the token limit only.
    public var ignoreEOS = false
    /// Limits a thinking block's length (llama.cpp's reasoning budget sampler); nil for none.
    public var reasoningBudget: ReasoningBudget?

    /// How long a reply may think, and the tokens that open and close its thinking: once `tokens`
    /// are spent inside a block, `forced` (the first closing sequence) is forced token by token.
    /// While a block is open a lazy grammar does not apply, so a trigger written while thinking
    /// does not start a tool call (llama.cpp's common sampler does the same).
    public struct ReasoningBudget: Sendable, Equatable {
        /// Tokens a thinking block may take; nil: no limit.
        public var tokens: Int?
        public var start: [Token]
        public var ends: [[Token]]
        public var forced: [Token]
        /// The prompt's last tokens (its generation prompt), which may already open a block.
        public var prefill: [Token]

        public init(tokens: Int?, start: [Token], ends: [[Token]], forced: [Token], prefill: [Token]) {
            self.tokens = tokens
            self.start = start
            self.ends = ends
            self.forced = forced
            self.prefill = prefill
        }
    }

    /// What switches a lazy grammar on.
    public struct GrammarTriggers: Sendable, Equatable {
        /// Regular expressions matched against the generated text; the grammar applies from where one matched.
        public var patterns: [String]
        /// Tokens whose sampling switches the grammar on.
        public var tokens: [Token]
        public init(patterns: [String] = [], tokens: [Token] = []) {
            self.patterns = patterns
            self.tokens = tokens
        }
    }

    /// One `logit_bias` entry.
    public struct LogitBias: Sendable, Equatable {
        public var token: Token
        public var bias: Float
        public init(token: Token, bias: Float) {
            self.token = token
            self.bias = bias
        }
    }

    public init(temperature: Double = 0.8, topK: Int = 40, topP: Double = 0.95, minP: Double = 0.05,
                repeatPenalty: Double = 1.0, presencePenalty: Double = 0, frequencyPenalty: Double = 0,
                penaltyLastN: Int = 64, seed: UInt32? = nil, grammar: String? = nil,
                logitBias: [LogitBias] = [], ignoreEOS: Bool = false) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repeatPenalty = repeatPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.penaltyLastN = penaltyLastN
        self.seed = seed
        self.grammar = grammar
        self.logitBias = logitBias
        self.ignoreEOS = ignoreEOS
    }

    /// The biases sampling applies: `logitBias`, then with `ignoreEOS` -infinity on every
    /// end-of-generation token, as llama-server appends them (and lists them so).
    public func appliedLogitBias(model: LlamaModel) -> [LogitBias] {
        guard ignoreEOS else { return logitBias }
        return logitBias + model.endOfGenerationTokens.map { LogitBias(token: $0, bias: -.infinity) }
    }

    /// These parameters with every field a request set replacing the default; nil keeps it.
    public func overriding(temperature: Double? = nil, topK: Int? = nil, topP: Double? = nil, minP: Double? = nil,
                           repeatPenalty: Double? = nil, presencePenalty: Double? = nil, frequencyPenalty: Double? = nil,
                           penaltyLastN: Int? = nil, seed: UInt32? = nil, grammar: String? = nil) -> SamplingParameters {
        var result = self
        if let temperature { result.temperature = temperature }
        if let topK { result.topK = topK }
        if let topP { result.topP = topP }
        if let minP { result.minP = minP }
        if let repeatPenalty { result.repeatPenalty = repeatPenalty }
        if let presencePenalty { result.presencePenalty = presencePenalty }
        if let frequencyPenalty { result.frequencyPenalty = frequencyPenalty }
        if let penaltyLastN { result.penaltyLastN = penaltyLastN }
        if let seed { result.seed = seed }
        if let grammar { result.grammar = grammar }
        return result
    }

    /// Greedy decoding: deterministic, the same text for the same prompt.
    public static let greedy = SamplingParameters(temperature: 0)

    /// Checks ranges; the error names the parameter.
    public func validate() throws(EngineError) {
        func bad(_ parameter: EngineError.RequestParameter, _ value: some Numeric, _ requirement: String) -> EngineError {
            EngineError(.outOfRange(parameter, value: "\(value)", requirement: requirement))
        }
        guard temperature.isFinite, temperature >= 0, temperature <= 100 else { throw bad(.temperature, temperature, "between 0 and 100") }
        guard topK >= 0 else { throw bad(.topK, topK, "0 or more") }
        guard topP.isFinite, topP >= 0, topP <= 1 else { throw bad(.topP, topP, "between 0 and 1") }
        guard minP.isFinite, minP >= 0, minP <= 1 else { throw bad(.minP, minP, "between 0 and 1") }
        guard repeatPenalty.isFinite, repeatPenalty > 0 else { throw bad(.repeatPenalty, repeatPenalty, "greater than 0") }
        guard presencePenalty.isFinite, (-2...2).contains(presencePenalty) else { throw bad(.presencePenalty, presencePenalty, "between -2 and 2") }
        guard frequencyPenalty.isFinite, (-2...2).contains(frequencyPenalty) else { throw bad(.frequencyPenalty, frequencyPenalty, "between -2 and 2") }
        guard penaltyLastN >= -1 else { throw bad(.penaltyLastN, penaltyLastN, "-1 or more") }
    }
}

/// A llama.cpp sampler chain built from `SamplingParameters`; one per request, used on the
/// engine's thread only.
///
/// A grammar is kept out of the chain and checked lazily, as llama.cpp's common sampler does:
/// the chain picks a token from the unconstrained candidates, the grammar checks that one token,
/// and only when it is rejected are all candidates filtered by the grammar and the chain run again.
/// Filtering Gemma's 262,144 candidates through the grammar at every step cost most of the time
/// of constrained decoding; the model's own choice is allowed by the grammar at most steps.
final class SamplerChain {
    let pointer: UnsafeMutablePointer<llama_sampler>
    private let grammar: UnsafeMutablePointer<llama_sampler>?
    /// The reasoning budget sampler, applied before the chain; nil without a budget.
    private let budget: UnsafeMutableRawPointer?
    /// Whether `grammar` is lazy (it then waits while a thinking block is open).
    private let grammarIsLazy: Bool
    /// Greedy without penalties: the chain's only step is an argmax, which `sample` does straight
    /// on the logits instead of building llama.cpp's candidate array (3 MB per token for Gemma).
    private let isPlainArgmax: Bool
    private let vocabularySize: Int
    /// The candidate array, allocated on first use and refilled from the logits at each use.
    private var candidates: [llama_token_data] = []

    init(_ parameters: SamplingParameters, model: LlamaModel) throws(EngineError) {
        vocabularySize = model.vocabularySize
        let penalised = parameters.repeatPenalty != 1 || parameters.presencePenalty != 0 || parameters.frequencyPenalty != 0
        let biases = parameters.appliedLogitBias(model: model).map { llama_logit_bias(token: $0.token, bias: $0.bias) }
        isPlainArgmax = parameters.temperature <= 0 && !penalised && biases.isEmpty && parameters.reasoningBudget == nil
        grammarIsLazy = parameters.grammarTriggers != nil
        budget = try parameters.reasoningBudget.map { budget throws(EngineError) in try Self.makeBudget(budget, model: model) }
        if let grammar = parameters.grammar {
            let sampler = try Self.makeGrammar(grammar, triggers: parameters.grammarTriggers, model: model)
            // The generation prompt's tokens, as llama.cpp's common sampler feeds them, while the
            // grammar takes them: accepting a token it rejects would throw through the C API.
            if parameters.grammarTriggers == nil {
                for token in parameters.grammarPrefill {
                    guard Self.allows(sampler, token) else { break }
                    llama_sampler_accept(sampler, token)
                }
            }
            self.grammar = sampler
        } else {
            grammar = nil
        }
        var chainParams = llama_sampler_chain_default_params()
        chainParams.no_perf = true
        pointer = llama_sampler_chain_init(chainParams)
        func add(_ sampler: UnsafeMutablePointer<llama_sampler>?) { if let sampler { llama_sampler_chain_add(pointer, sampler) } }

        if !biases.isEmpty {
            add(llama_sampler_init_logit_bias(Int32(clamping: vocabularySize), Int32(clamping: biases.count), biases))
        }
        let lastN = parameters.penaltyLastN == -1 ? model.contextTrainSize : parameters.penaltyLastN
        if penalised {
            add(llama_sampler_init_penalties(Int32(clamping: model.vocabularySize), Int32(clamping: lastN), Float(parameters.repeatPenalty),
                                             Float(parameters.frequencyPenalty), Float(parameters.presencePenalty)))
        }
        if parameters.temperature <= 0 {
            add(llama_sampler_init_greedy())
        } else {
            if parameters.topK > 0 { add(llama_sampler_init_top_k(Int32(clamping: parameters.topK))) }
            if parameters.topP < 1 { add(llama_sampler_init_top_p(Float(parameters.topP), 1)) }
            if parameters.minP > 0 { add(llama_sampler_init_min_p(Float(parameters.minP), 1)) }
            add(llama_sampler_init_temp(Float(parameters.temperature)))
            add(llama_sampler_init_dist(parameters.seed ?? UInt32.random(in: 0...UInt32.max - 1)))
        }
    }

    /// Throws when llama.cpp cannot parse `grammar` (GBNF, root rule `root`) or a trigger pattern
    /// for `model`, so a request with a bad grammar is refused before it is queued. Parsing is
    /// read-only on the vocabulary, so any thread may call this.
    static func checkGrammar(_ grammar: String, triggers: SamplingParameters.GrammarTriggers? = nil, model: LlamaModel) throws(EngineError) {
        llama_sampler_free(try makeGrammar(grammar, triggers: triggers, model: model))
    }

    private static func makeGrammar(_ grammar: String, triggers: SamplingParameters.GrammarTriggers?,
                                    model: LlamaModel) throws(EngineError) -> UnsafeMutablePointer<llama_sampler> {
        LlamaBackend.clearLastError()
        let sampler: UnsafeMutablePointer<llama_sampler>?
        if let triggers {
            let patterns = triggers.patterns.map { strdup($0) }
            defer { patterns.forEach { free($0) } }
            var pointers = patterns.map { UnsafePointer($0) }
            sampler = llama_sampler_init_grammar_lazy_patterns(model.vocab, grammar, "root", &pointers, pointers.count,
                                                               triggers.tokens, triggers.tokens.count)
        } else {
            sampler = llama_sampler_init_grammar(model.vocab, grammar, "root")
        }
        guard let sampler else {
            throw EngineError(.grammarFailed, "the grammar could not be parsed: \(LlamaBackend.takeLastError() ?? "no detail")")
        }
        return sampler
    }

    private static func makeBudget(_ budget: SamplingParameters.ReasoningBudget, model: LlamaModel) throws(EngineError) -> UnsafeMutableRawPointer {
        var error: UnsafeMutablePointer<CChar>?
        defer { gemma_common_free(error) }
        let ends: [Token] = budget.ends.flatMap { $0 }, lengths = budget.ends.map { Int32($0.count) }
        let (start, forced) = (budget.start, budget.forced)
        guard let sampler = gemma_reasoning_budget_init(model.vocab, start, Int32(start.count), ends, lengths, Int32(lengths.count),
                                                        forced, Int32(forced.count), Int32(clamping: budget.tokens ?? Int(Int32.max)), &error) else {
            throw EngineError(.grammarFailed, "the reasoning budget could not be set up: \(error.map { String(cString: $0) } ?? "no reason")")
        }
        for token in budget.prefill { llama_sampler_accept(sampler.assumingMemoryBound(to: llama_sampler.self), token) }
        return sampler
    }

    deinit {
        llama_sampler_free(pointer)
        if let grammar { llama_sampler_free(grammar) }
        if let budget { llama_sampler_free(budget.assumingMemoryBound(to: llama_sampler.self)) }
    }

    /// Whether the grammar applies now: a lazy one waits while a thinking block is open.
    private var grammarApplies: Bool {
        guard grammar != nil else { return false }
        guard let budget, grammarIsLazy else { return true }
        return !gemma_reasoning_budget_is_thinking(budget)
    }

    /// Samples from output row `index` of the context's last decode and records the token.
    func sample(_ context: LlamaContext, index: Int32) -> Token {
        guard let logits = context.logits(at: index) else {
            // No such row: llama.cpp's own sampling reports it the way it does.
            return llama_sampler_sample(pointer, context.pointer, index)
        }
        var token = isPlainArgmax
            ? Token(Self.firstIndexOfMaximum(UnsafeBufferPointer(start: logits, count: vocabularySize)))
            : pick(from: logits, constrained: false)
        let grammarApplies = grammarApplies
        if grammarApplies, let grammar, !Self.allows(grammar, token) { token = pick(from: logits, constrained: true) }
        if let budget {
            let sampler = budget.assumingMemoryBound(to: llama_sampler.self)
            llama_sampler_accept(sampler, token)
            // A block just closed by a sequence the grammar did not see: it may hold the trigger.
            if let grammar, !grammarApplies, !gemma_reasoning_budget_is_thinking(budget) {
                var end: UnsafePointer<Int32>?
                let count = gemma_reasoning_budget_end_match(budget, &end)
                for index in 0..<Int(count) { llama_sampler_accept(grammar, end![index]) }
            }
        }
        if grammarApplies, let grammar { llama_sampler_accept(grammar, token) }
        llama_sampler_accept(pointer, token)
        return token
    }

    /// Whether the grammar, in its current state, accepts `token` next.
    private static func allows(_ grammar: UnsafeMutablePointer<llama_sampler>, _ token: Token) -> Bool {
        var single = llama_token_data(id: token, logit: 1, p: 0)
        return withUnsafeMutablePointer(to: &single) { data in
            var array = llama_token_data_array(data: data, size: 1, selected: -1, sorted: false)
            llama_sampler_apply(grammar, &array)
            return array.data[0].logit != -.infinity
        }
    }

    /// Runs the chain over every candidate, first filtered by the grammar when `constrained`.
    private func pick(from logits: UnsafeMutablePointer<Float>, constrained: Bool) -> Token {
        if candidates.count != vocabularySize {
            candidates = [llama_token_data](repeating: llama_token_data(id: 0, logit: 0, p: 0), count: vocabularySize)
        }
        return candidates.withUnsafeMutableBufferPointer { buffer in
            for index in 0..<vocabularySize {
                buffer[index] = llama_token_data(id: Token(index), logit: logits[index], p: 0)
            }
            // Samplers may point `data` elsewhere (never freed by us), so the pick is read through the array.
            var array = llama_token_data_array(data: buffer.baseAddress, size: vocabularySize, selected: -1, sorted: false)
            if let budget { llama_sampler_apply(budget.assumingMemoryBound(to: llama_sampler.self), &array) }
            if constrained, let grammar { llama_sampler_apply(grammar, &array) }
            llama_sampler_apply(pointer, &array)
            guard array.selected >= 0, array.selected < array.size else { return array.data[0].id }
            return array.data[Int(array.selected)].id
        }
    }

    /// The lowest index holding the largest value, as llama.cpp's greedy sampler picks it.
    ///
    /// Two vector passes: the maximum, then the first lane equal to it. Compare-and-blend
    /// (`replace(with:where:)`) compiles to a few vector instructions per chunk, where
    /// `pointwiseMax` went lane by lane (for NaN rules) and took ~3 ms over Gemma's vocabulary.
    static func firstIndexOfMaximum(_ values: UnsafeBufferPointer<Float>) -> Int {
        guard let base = values.baseAddress, !values.isEmpty else { return 0 }
        typealias Lanes = SIMD8<Float>
        let lanes = Lanes.scalarCount
        func load(_ index: Int) -> Lanes { UnsafeRawPointer(base + index).loadUnaligned(as: Lanes.self) }
        // Two accumulators so consecutive compares do not wait on each other.
        var low = Lanes(repeating: -.infinity), high = low
        var index = 0
        while index + 2 * lanes <= values.count {
            let a = load(index), b = load(index + lanes)
            low.replace(with: a, where: a .> low)
            high.replace(with: b, where: b .> high)
            index += 2 * lanes
        }
        low.replace(with: high, where: high .> low)
        var maximum = low.max()
        while index < values.count {
            if values[index] > maximum { maximum = values[index] }
            index += 1
        }
        let target = Lanes(repeating: maximum)
        index = 0
        while index + lanes <= values.count, !any(load(index) .== target) { index += lanes }
        while index < values.count {
            if values[index] == maximum { return index }
            index += 1
        }
        return 0
    }
}

/// A GBNF grammar for any JSON object, for `response_format: {"type": "json_object"}`.
public enum JSONGrammar {
    public static let object = #"""
    root   ::= object
    value  ::= object | array | string | number | ("true" | "false" | "null") ws
    object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
    array  ::= "[" ws ( value ("," ws value)* )? "]" ws
    string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\bfnrt/] | "u" [0-9a-fA-F]{4}) )* "\"" ws
    number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9]{1,15})? ws
    ws     ::= | " " | "\n" [ \t]{0,20}
    """#
}
