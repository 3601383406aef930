import CLlamaCommon

/// How slots speculate: draft-free speculative decoding with llama.cpp's common speculative code
/// (llama-server's `--spec-type`). A slot's draft (tokens its own history suggests come next) rides
/// in the shared decode step after the slot's next token; the slot's sampler then samples each
/// drafted row in turn and keeps draft tokens while they equal what it sampled, as
/// `common_sampler_sample_and_accept_n` does, so the text is what decoding one token a step gives.
public struct SpeculationOptions: Sendable, Equatable {
    /// llama.cpp's speculative types, as common names them (`ngram-mod`); empty: off.
    public var types: [String]
    /// Most tokens one draft may carry; each slot's draft limit grows up to this.
    public var draftMax: Int
    /// Fewest tokens worth verifying: a shorter draft is dropped.
    public var draftMin: Int

    public init(types: [String], draftMax: Int = SpeculationOptions.defaultDraftMax, draftMin: Int = 0) {
        self.types = types
        self.draftMax = draftMax
        self.draftMin = draftMin
    }

    public var isOn: Bool { !types.isEmpty && draftMax > 0 }

    /// No speculation (`--spec-type none`).
    public static let off = SpeculationOptions(types: [])

    /// gemmactl's default: ngram-mod, the draft-free type issue 26 measured best on this model
    /// (the other types drafted less often on the same chat and repetition prompts), paced per slot
    /// by `DraftPacing` so prompts with nothing to repeat lose nothing.
    public static let automatic = SpeculationOptions(types: ["ngram-mod"])

    /// ngram-mod's own most (`common_params_speculative_ngram_mod.n_max`).
    public static let defaultDraftMax = 64

    /// The types named in `list` (comma-separated llama-server names), as common spells them;
    /// empty for `none`. Throws with common's reason for an unknown name or a type that needs a
    /// draft model.
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

/// common_speculative for the context's sequences, on the engine's thread only.
final class Speculator {
    private let pointer: OpaquePointer

    /// Nil when `types` is empty.
    init?(types: [String], sequences: Int) throws(EngineError) {
        guard !types.isEmpty else { return nil }
        var error: UnsafeMutablePointer<CChar>?
        let made = gemma_speculator_init(types.joined(separator: ","), UInt32(clamping: sequences), &error)
        defer { gemma_common_free(error) }
        guard let made else {
            throw EngineError(.invalidParameter, "speculative decoding could not start: \(error.map { String(cString: $0) } ?? "no reason given")")
        }
        pointer = made
    }

    deinit { gemma_speculator_free(pointer) }

    /// A generation starts on `sequence` after `prompt`.
    func begin(sequence: Int32, prompt: [Token]) {
        prompt.withUnsafeBufferPointer { gemma_speculator_begin(pointer, sequence, $0.baseAddress, $0.count) }
    }

    /// Asks for a draft of at most `limit` tokens to follow `last`, which follows `history`.
    func request(sequence: Int32, history: [Token], last: Token, limit: Int) {
        history.withUnsafeBufferPointer {
            gemma_speculator_request(pointer, sequence, $0.baseAddress, $0.count, last, Int32(clamping: limit))
        }
    }

    /// Drafts for every sequence asked for since the last call.
    func draft() throws(EngineError) {
        var error: UnsafeMutablePointer<CChar>?
        defer { gemma_common_free(error) }
        guard gemma_speculator_draft(pointer, &error) == 0 else {
            throw EngineError(.decodeFailed, "drafting failed: \(error.map { String(cString: $0) } ?? "no reason given")")
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
