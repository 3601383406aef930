import CLlamaCommon

/// How slots speculate, with llama.cpp's common speculative code (llama-server's `--spec-type`):
/// draft-free types draft from the slot's own history, `draft-simple` from a smaller draft model
/// (`-md`). A slot's draft rides in the shared decode step after the slot's next token; the slot's
/// sampler then samples each drafted row in turn and keeps draft tokens while they equal what it
/// sampled, as `common_sampler_sample_and_accept_n` does, so the text is what decoding one token a
/// step gives.
public struct SpeculationOptions: Sendable, Equatable {
    /// llama.cpp's speculative types, as common names them (`ngram-mod`); empty: off.
    public var types: [String]
    /// Most tokens one draft may carry; each slot's draft limit grows up to this.
    public var draftMax: Int
    /// Fewest tokens worth verifying: a shorter draft is dropped.
    public var draftMin: Int
    /// The GGUF of the draft model `draft-simple` drafts with (same vocabulary as the served model).
    public var draftModel: String?

    public init(types: [String], draftMax: Int = SpeculationOptions.defaultDraftMax, draftMin: Int = 0, draftModel: String? = nil) {
        self.types = types
        self.draftMax = draftMax
        self.draftMin = draftMin
        self.draftModel = draftModel
    }

    /// common's name of draft-model speculation.
    public static let draftModelType = "draft-simple"

    public var isOn: Bool { !types.isEmpty && draftMax > 0 }

    /// Most drafted tokens of all slots in one decode step: twice one draft's, so two slots may
    /// each draft all they can and four 32 each. With one draft's worth (16 each at four slots)
    /// the repeat workload of `scripts/bench` generated 0.96× llama-server `--spec-type
    /// ngram-simple` at four streams, whose slots each draft up to 48; each row costs 1 MiB of
    /// logits for Gemma (see `Scheduler.draft`).
    public var stepDraftMax: Int { 2 * draftMax }

    /// No speculation (`--spec-type none`).
    public static let off = SpeculationOptions(types: [])

    /// gemmactl's default: ngram-simple (a draft of up to 48 tokens where the last 12 tokens were
    /// seen before), paced per slot by `DraftPacing` so prompts with nothing to repeat lose nothing.
    /// In `scripts/bench` it generated as fast as ngram-mod or faster on the chat, repeat and extract
    /// workloads at 1 / 4 / 8 streams, in no more memory (docs/llama-server-api.md has the figures).
    public static let automatic = SpeculationOptions(types: ["ngram-simple"])

    /// ngram-mod's own most (`common_params_speculative_ngram_mod.n_max`), the longest draft of
    /// common's draft-free types.
    public static let defaultDraftMax = 64

    /// The types named in `list` (comma-separated llama-server names), as common spells them;
    /// empty for `none`. Throws with common's reason for an unknown name, or for a draft type other
    /// than `draft-simple` (MTP, EAGLE3 and DFlash heads are not loaded).
    public static func types(parsing list: String) throws(EngineError) -> [String] {
        var canonical: UnsafeMutablePointer<CChar>?
        var error: UnsafeMutablePointer<CChar>?
        let status = gemma_speculative_types_check(list.trimmingCharacters(in: .whitespaces), &canonical, &error)
        defer {
            gemma_common_free(canonical)
            gemma_common_free(error)
        }
        guard status == 0, let canonical else {
            throw EngineError(.invalidParameter, error.map { String(cString: $0) } ?? "not a speculative type list")
        }
        let names = String(cString: canonical)
        return names == "none" ? [] : names.split(separator: ",").map(String.init)
    }
}

/// common_speculative for the context's sequences, on the engine's thread only. Requests are
/// gathered, then drafted together: a draft model's cache is first brought up to each requesting
/// sequence's tokens (`DraftModel.follow`), in one set of shared decodes.
final class Speculator {
    private let pointer: OpaquePointer
    /// The draft model draft-simple drafts with (nil: draft-free types only).
    private let draftModel: DraftModel?
    private var requests: [(sequence: Int32, history: [Token], last: Token, limit: Int)] = []

    /// Nil when `types` is empty. `draftModel` is required with draft-simple, and only then.
    init?(types: [String], sequences: Int, target: LlamaContext, draftModel: DraftModel?,
          draftMax: Int, draftMin: Int) throws(EngineError) {
        guard !types.isEmpty else { return nil }
        var error: UnsafeMutablePointer<CChar>?
        defer { gemma_common_free(error) }
        let list = types.joined(separator: ",")
        let made = if let draftModel {
            withUnsafePointer(to: gemma_draft_model(target: target.pointer, draft: draftModel.context.pointer,
                                                    n_max: Int32(clamping: draftMax), n_min: Int32(clamping: draftMin))) {
                gemma_speculator_init(list, UInt32(clamping: sequences), $0, &error)
            }
        } else {
            gemma_speculator_init(list, UInt32(clamping: sequences), nil, &error)
        }
        guard let made else {
            throw EngineError(.invalidParameter, "speculative decoding could not start: \(error.map { String(cString: $0) } ?? "no reason given")")
        }
        pointer = made
        self.draftModel = draftModel
    }

    deinit { gemma_speculator_free(pointer) }

    /// A generation starts on `sequence` after `prompt`.
    func begin(sequence: Int32, prompt: [Token]) {
        prompt.withUnsafeBufferPointer { gemma_speculator_begin(pointer, sequence, $0.baseAddress, $0.count) }
    }

    /// Asks for a draft of at most `limit` tokens to follow `last`, which follows `history`.
    func request(sequence: Int32, history: [Token], last: Token, limit: Int) {
        requests.append((sequence, history, last, limit))
    }

    /// Drafts for every sequence asked for since the last call. On an error no sequence has a draft.
    func draft() throws(EngineError) {
        let requests = self.requests
        self.requests = []
        try draftModel?.follow(requests.map { ($0.sequence, $0.history) })
        for request in requests {
            request.history.withUnsafeBufferPointer {
                gemma_speculator_request(pointer, request.sequence, $0.baseAddress, $0.count, request.last,
                                         Int32(clamping: request.limit))
            }
        }
        var error: UnsafeMutablePointer<CChar>?
        defer { gemma_common_free(error) }
        guard gemma_speculator_draft(pointer, &error) == 0 else {
            throw EngineError(.decodeFailed, "drafting failed: \(error.map { String(cString: $0) } ?? "no reason given")")
        }
        guard let draftModel else { return }
        for request in requests {
            draftModel.drafted(sequence: request.sequence, from: request.history.count,
                               tokens: [request.last] + result(sequence: request.sequence))
        }
    }

    /// The draft the last `draft()` made for `sequence`.
    func result(sequence: Int32) -> [Token] {
        var tokens: UnsafePointer<Int32>?
        let count = gemma_speculator_result(pointer, sequence, &tokens)
        guard let tokens, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: tokens, count: count))
    }

    /// How many of `sequence`'s last draft the model accepted.
    func accept(sequence: Int32, accepted: Int) {
        gemma_speculator_accept(pointer, sequence, UInt16(clamping: accepted))
    }
}

/// The draft model of draft-simple speculation and its context (as many sequences as the served
/// model's, each as long), on the engine's thread only. Its cache of a sequence follows the served
/// model's tokens lazily, as the slots' prompt reuse does: before a draft, the prefix the two share
/// is kept and the rest decoded. So nothing that changes the served model's cache (a rejected
/// draft, a new prompt, the prompt cache, a restored slot) has to tell it, and a wrong guess costs
/// only drafts, never text: every draft is verified by the served model.
final class DraftModel {
    let context: LlamaContext
    /// Per sequence, the tokens whose keys and values the draft context holds, in order.
    private var cached: [[Token]]
    private let batch: LlamaBatch

    init(path: String, options: ContextOptions) throws(EngineError) {
        // The served model's kernels: with --deterministic, no repacked weights either.
        let model = try LlamaModel(path: path, options: ModelLoadOptions(repackWeights: !options.batchInvariant))
        var options = options
        options.embeddings = false
        context = try LlamaContext(model: model, options: options)
        cached = Array(repeating: [], count: options.sequences)
        batch = LlamaBatch(capacity: context.batchSize)
    }

    /// Brings each sequence's cache to exactly its tokens: drops what differs, decodes what is
    /// missing, several sequences to a batch. On an error those sequences' caches are emptied.
    func follow(_ sequences: [(sequence: Int32, tokens: [Token])]) throws(EngineError) {
        var missing: [(sequence: Int32, tokens: ArraySlice<Token>)] = []
        for (sequence, tokens) in sequences {
            let index = Int(sequence)
            var kept = zip(cached[index], tokens).prefix { $0 == $1 }.count
            if kept < cached[index].count {
                if !context.removeTokens(sequence: sequence, from: Int32(kept)) {
                    context.removeTokens(sequence: sequence)
                    kept = 0
                }
                cached[index].removeSubrange(kept...)
            }
            if kept < tokens.count { missing.append((sequence, tokens[kept...])) }
        }
        while !missing.isEmpty {
            batch.clear()
            var taken: [Int] = []
            for entry in missing where batch.count < batch.capacity {
                let take = min(entry.tokens.count, batch.capacity - batch.count)
                let index = Int(entry.sequence)
                for (offset, token) in entry.tokens.prefix(take).enumerated() {
                    batch.append(token, position: Int32(cached[index].count + offset), sequence: entry.sequence, wantsLogits: false)
                }
                taken.append(take)
            }
            do {
                try context.decode(batch)
            } catch {
                for entry in missing {
                    context.removeTokens(sequence: entry.sequence)
                    cached[Int(entry.sequence)] = []
                }
                throw error
            }
            for (position, take) in taken.enumerated() {
                let entry = missing[position]
                cached[Int(entry.sequence)].append(contentsOf: entry.tokens.prefix(take))
                missing[position].tokens = entry.tokens.dropFirst(take)
            }
            missing.removeAll { $0.tokens.isEmpty }
        }
    }

    /// After a draft for `sequence`, whose cache held its first `from` tokens: draft-simple decoded
    /// some of `tokens` (the next token, then the draft) after them; what it holds is counted.
    func drafted(sequence: Int32, from: Int, tokens: [Token]) {
        let index = Int(sequence)
        let held = context.lastPosition(of: sequence) + 1 - from
        guard cached[index].count == from, (0...tokens.count).contains(held) else {
            context.removeTokens(sequence: sequence)
            cached[index] = []
            return
        }
        cached[index].append(contentsOf: tokens.prefix(held))
    }
}

/// When a slot drafts and how many tokens: it drafts only while its drafts pay.
///
/// Verifying a draft of k tokens costs about `verifyCost` × k decode steps more than the step
/// itself (each drafted row needs its logits: Gemma's 262,144-token output layer is most of a
/// 270M model's work per row), and gains the accepted tokens. A draft pays when accepted ≥
/// verifyCost × k. After a draft that did not pay the slot sits out 2, 4, 8 … 64 steps and then
/// tries again; a draft that pays resets that. The next draft's limit follows the last acceptance:
/// twice what was accepted plus one, so a partly wrong draft is followed by a shorter one and a
/// fully accepted one by a longer one, up to `SpeculationOptions.draftMax`.
struct DraftPacing {
    /// Extra decode-step cost per drafted token: (time of a decode of 1 + k rows, all with logits,
    /// − time of one row) ÷ (k × time of one row), at a 200-token depth. Measured on the issue's
    /// machine (AMD EPYC, 2 threads, llama.cpp release build, Gemma 3 270M Q4_K_M, fast kernels):
    /// 0.56, 0.51, 0.42, 0.28, 0.38 at k = 4, 8, 16, 32, 64, so 0.4; provisional, measured while
    /// other builds loaded the machine (load average 6), to be measured again on a quiet one.
    static let verifyCost = 0.4
    /// Steps a slot sits out after its first draft that did not pay; doubles with each one after.
    static let firstPause = 2
    static let longestPause = 64
    /// The first draft's limit, before any acceptance is known.
    static let startLimit = 16

    private(set) var limit = DraftPacing.startLimit
    private var pause = 0
    private var misses = 0

    /// Whether the slot is to draft this step (`wantsDraft` then says so and counts a step sat out).
    var isDue: Bool { pause == 0 }

    /// Whether the slot drafts this step (counts a step sat out).
    mutating func wantsDraft() -> Bool {
        guard pause == 0 else {
            pause -= 1
            return false
        }
        return true
    }

    /// Records a verified draft of `drafted` tokens of which the first `accepted` were kept.
    mutating func record(drafted: Int, accepted: Int, draftMax: Int) {
        guard drafted > 0 else { return }
        if Double(accepted) >= Self.verifyCost * Double(drafted) {
            misses = 0
        } else {
            misses += 1
            pause = min(Self.longestPause, Self.firstPause << min(misses - 1, 6))
        }
        limit = max(1, min(draftMax, 2 * accepted + 1))
    }
}
