/// Why a generation ended, in OpenAI's words.
public enum FinishReason: String, Sendable, Codable {
    /// End of generation token or a stop string.
    case stop
    /// max_tokens reached, or the slot's context is full.
    case length
}

/// How a generation stopped, in llama-server's words (`stop_type`).
public enum StopType: String, Sendable {
    /// An end-of-generation token.
    case eos
    /// A stop string (`stoppingWord` in the stats says which).
    case word
    /// The token limit, or the slot's context is full.
    case limit
}

/// The log-probability of one generated token and its most likely alternatives.
public struct TokenLogprob: Sendable, Equatable {
    public struct Alternative: Sendable, Equatable {
        public let id: Token
        public let token: String
        public let bytes: [UInt8]
        public let logprob: Double
    }
    public let id: Token
    public let token: String
    public let bytes: [UInt8]
    public let logprob: Double
    public let top: [Alternative]
}

/// One generation job for the engine.
public struct GenerationRequest: Sendable {
    /// The prompt, already tokenized (BOS included where the model wants it).
    public var prompt: [Token]
    public var sampling: SamplingParameters
    /// nil: until end of generation or the slot's context is full.
    public var maxTokens: Int?
    public var stop: [String]
    /// Alternatives per token to report; nil: no log-probabilities.
    public var logprobs: Int?
    /// The slot to run on (llama-server's `id_slot`); nil: the one whose cache fits best. A
    /// pinned request waits for its slot even while others are free.
    public var slot: Int?
    /// false: evaluate the whole prompt, reusing nothing the slot or the prompt cache holds
    /// (llama-server's `cache_prompt`).
    public var cachePrompt: Bool
    /// Report `promptProgress` events while the prompt is evaluated (llama-server's `return_progress`).
    public var reportsProgress: Bool
    /// Special tokens written into the text rather than dropped (a chat template's tool-call and
    /// thinking markers, which its reply parser reads).
    public var visibleSpecialTokens: Set<Token>

    public init(prompt: [Token], sampling: SamplingParameters = SamplingParameters(), maxTokens: Int? = nil,
                stop: [String] = [], logprobs: Int? = nil, slot: Int? = nil, cachePrompt: Bool = true,
                reportsProgress: Bool = false, visibleSpecialTokens: Set<Token> = []) {
        self.prompt = prompt
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.stop = stop
        self.logprobs = logprobs
        self.slot = slot
        self.cachePrompt = cachePrompt
        self.reportsProgress = reportsProgress
        self.visibleSpecialTokens = visibleSpecialTokens
    }
}

/// Counts and timings of a finished generation.
public struct GenerationStats: Sendable, Equatable {
    public var finishReason: FinishReason
    public var promptTokens: Int
    /// Prompt tokens whose KV cache was reused from the slot's previous request.
    public var cachedTokens: Int
    /// Tokens sampled, an ending end-of-generation token included (as llama-server counts them).
    public var completionTokens: Int
    /// Waiting for a free slot.
    public var queueDuration: Duration
    /// Evaluating the prompt, up to the first token sampled.
    public var promptDuration: Duration
    /// From the first token sampled to the last: the decode steps after the first token, which
    /// came with the prompt's last batch (llama-server's `predicted_ms`).
    public var generationDuration: Duration
    public var slot: Int
    /// `finishReason` in llama-server's finer words.
    public var stopType: StopType = .limit
    /// The stop string that ended the generation ("" unless `stopType` is `word`).
    public var stoppingWord = ""
    /// Tokens in the slot's KV cache when it ended (llama-server's `tokens_cached`).
    public var contextTokens = 0
    /// What speculation drafted for this request and how much of it was accepted
    /// (llama-server's `draft_n` and `draft_n_accepted`).
    public var drafts = DraftCounts()
}

/// Speculative drafts verified, the tokens they carried, and how many of those the model accepted.
public struct DraftCounts: Sendable, Equatable {
    /// Verification steps: drafts handed to a decode.
    public var verified = 0
    public var tokens = 0
    public var accepted = 0

    public init() {}

    /// Counts one draft of `drafted` tokens, `accepted` of which the model sampled too.
    public mutating func record(drafted: Int, accepted: Int) {
        verified += 1
        tokens += drafted
        self.accepted += accepted
    }
}

/// How far a prompt's evaluation has come (llama-server's `prompt_progress`).
public struct PromptProgress: Sendable, Equatable {
    /// Prompt tokens in all.
    public var total: Int
    /// Tokens reused from a cache, not evaluated.
    public var cached: Int
    /// Tokens in the slot's cache so far, reused ones included.
    public var processed: Int
    /// Since the slot took the request.
    public var elapsed: Duration
}

/// What a running generation reports, in order: `started`, `promptProgress` while the prompt is
/// read (only when asked), any number of `text`, `finished`.
public enum GenerationEvent: Sendable {
    case started(slot: Int, promptTokens: Int, cachedTokens: Int)
    case promptProgress(PromptProgress)
    /// New text (never a partial UTF-8 character nor part of a stop string), the ids of the
    /// tokens it came from and, if asked, their log-probabilities.
    case text(String, logprobs: [TokenLogprob], tokens: [Token])
    case finished(GenerationStats)
}

/// Where the engine hands a generation's events: `receive` for each event in order, then
/// `finish` once (nil after `finished`, else the error that ended it).
///
/// Both are called on the engine's thread between decode steps, so they must only hand the event
/// on (yield it into a stream, say), never wait.
public struct GenerationSink: Sendable {
    let receive: @Sendable (GenerationEvent) -> Void
    let finish: @Sendable ((any Error)?) -> Void

    public init(receive: @escaping @Sendable (GenerationEvent) -> Void, finish: @escaping @Sendable ((any Error)?) -> Void) {
        self.receive = receive
        self.finish = finish
    }

    /// A sink feeding `continuation`.
    init(_ continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation) {
        self.init(receive: { continuation.yield($0) }, finish: { error in
            if let error { continuation.finish(throwing: error) } else { continuation.finish() }
        })
    }
}

/// A submitted generation; `cancel()` stops it and frees its slot (a no-op once it has ended).
public struct GenerationTicket: Sendable {
    let id: UInt64
    let cancelling: @Sendable (UInt64) -> Void

    public func cancel() { cancelling(id) }
}

/// What /slots shows for one slot.
public struct SlotSnapshot: Sendable, Equatable {
    public var id: Int
    public var contextSize: Int
    public var isProcessing: Bool
    public var taskID: Int
    public var promptTokens: Int
    public var cachedTokens: Int
    public var decodedTokens: Int
    /// Tokens in this slot's KV cache right now.
    public var kvTokens: Int
    /// Whether the slot drafts (speculative decoding is on).
    public var speculative = false
    public var sampling: SamplingParameters?
    public var maxTokens: Int?
}

/// Counts over the engine's life, for /metrics: how well concurrent requests share decodes.
public struct DecodeTotals: Sendable, Equatable {
    /// `llama_decode` calls.
    public var calls = 0
    /// Slots that took part in them, summed (so `busySlots / calls` is slots per decode).
    public var busySlots = 0
    /// Tokens in them, prompt and generated (drafts included).
    public var tokens = 0
    /// Speculation's drafts over every request.
    public var drafts = DraftCounts()

    public init() {}
}

/// What the host-memory prompt cache (`--cache-ram`) holds, for /metrics.
public struct PromptCacheUsage: Sendable, Equatable {
    /// Prompts kept.
    public var entries = 0
    /// Their tokens, summed.
    public var tokens = 0
    /// Their states' bytes, summed: what the cache costs in memory.
    public var bytes = 0

    public init(entries: Int = 0, tokens: Int = 0, bytes: Int = 0) {
        self.entries = entries
        self.tokens = tokens
        self.bytes = bytes
    }
}
