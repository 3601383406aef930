import CLlama

/// Settings for one llama.cpp context.
public struct ContextOptions: Sendable, Equatable {
    /// Total context in tokens, shared out evenly between `sequences`.
    public var contextSize: Int = 4096
    /// Parallel sequences (server slots).
    public var sequences: Int = 1
    /// Most tokens one decode call takes (llama-server's --batch-size).
    public var batchSize: Int = 512
    /// Physical micro-batch size: `defaultMicroBatchSize` unless the batch is smaller, as llama-server.
    public var microBatchSize: Int = 512
    public var threads: Int = CPUBudget.defaultThreads
    public var batchThreads: Int = CPUBudget.defaultThreads
    /// Produce per-token embeddings (unpooled: `EmbeddingRunner` pools them) besides logits.
    public var embeddings: Bool = false
    /// Compute with llama.cpp's reference CPU kernels so that a token's logits do not depend on
    /// what else shares its batch: greedy output is then the same alone or under concurrency.
    /// Off lets ggml pick tiled kernels by batch shape (see `LlamaBackend.creatingContext`).
    public var batchInvariant: Bool = false

    /// llama-server's default `n_ubatch`.
    public static let defaultMicroBatchSize = 512

    public init(contextSize: Int = 4096, sequences: Int = 1, batchSize: Int = 512, microBatchSize: Int = defaultMicroBatchSize,
                threads: Int = CPUBudget.defaultThreads, batchThreads: Int? = nil, embeddings: Bool = false,
                batchInvariant: Bool = false) {
        self.contextSize = contextSize
        self.sequences = sequences
        self.batchSize = batchSize
        self.microBatchSize = min(microBatchSize, batchSize)
        self.threads = threads
        self.batchThreads = batchThreads ?? threads
        self.embeddings = embeddings
        self.batchInvariant = batchInvariant
    }

    /// Which CPU kernels a context made with these options computes with, for logs.
    public var kernelDescription: String {
        guard batchInvariant else { return "fast (batch-shape dependent)" }
        return LlamaBackend.canUseReferenceKernels ? "reference (batch-invariant)" : "fast (reference kernels need Linux)"
    }
}

/// A llama.cpp context: KV cache and compute buffers over a model.
///
/// Not thread-safe and not Sendable: exactly one thread (the engine's loop) creates, uses and
/// frees it. It keeps its model alive and is freed before it.
final class LlamaContext {
    let pointer: OpaquePointer
    let model: LlamaModel
    let memory: llama_memory_t

    init(model: LlamaModel, options: ContextOptions) throws(EngineError) {
        var params = llama_context_default_params()
        params.n_ctx = UInt32(clamping: options.contextSize)
        params.n_batch = UInt32(clamping: options.batchSize)
        params.n_ubatch = UInt32(clamping: options.microBatchSize)
        params.n_seq_max = UInt32(clamping: options.sequences)
        params.n_threads = Int32(clamping: options.threads)
        params.n_threads_batch = Int32(clamping: options.batchThreads)
        params.no_perf = true
        params.kv_unified = false
        // Keep the whole sliding-window cache so a slot's prefix can be reused after a request.
        params.swa_full = true
        if options.embeddings {
            params.embeddings = true
            params.pooling_type = LLAMA_POOLING_TYPE_NONE
        }
        LlamaBackend.clearLastError()
        let created = LlamaBackend.creatingContext(referenceKernels: options.batchInvariant) { llama_init_from_model(model.pointer, params) }
        guard let context = created else {
            let detail = LlamaBackend.takeLastError() ?? "no reason given"
            throw EngineError(.contextCreationFailed,
                              "could not create a llama.cpp context (ctx-size \(options.contextSize), parallel \(options.sequences)): \(detail)",
                              recovery: "lower --ctx-size or --parallel, or give the process more memory")
        }
        pointer = context
        self.model = model
        memory = llama_get_memory(context)
    }

    deinit { llama_free(pointer) }

    /// Context length one sequence can use.
    var sequenceContextSize: Int { Int(llama_n_ctx_seq(pointer)) }
    var totalContextSize: Int { Int(llama_n_ctx(pointer)) }
    var batchSize: Int { Int(llama_n_batch(pointer)) }

    /// Runs the model over `batch`. Throws with llama.cpp's status on failure.
    func decode(_ batch: LlamaBatch) throws(EngineError) {
        let status = llama_decode(pointer, batch.raw)
        guard status == 0 else {
            let meaning = switch status {
            case 1: "no room left in the KV cache for this batch"
            case 2: "aborted"
            case -1: "invalid batch"
            default: "llama_decode failed with status \(status)"
            }
            throw EngineError(.decodeFailed, "decoding failed: \(meaning)")
        }
    }

    /// Drops positions `from..<to` of `sequence` from the KV cache (-1 means open-ended).
    /// Returns false when the cache cannot drop a partial range (then drop the whole sequence).
    @discardableResult
    func removeTokens(sequence: Int32, from: Int32 = -1, to: Int32 = -1) -> Bool {
        llama_memory_seq_rm(memory, sequence, from, to)
    }

    /// The last position `sequence` holds in the cache (-1 when it holds none).
    func lastPosition(of sequence: Int32) -> Int { Int(llama_memory_seq_pos_max(memory, sequence)) }

    /// The keys and values `sequence` holds, as bytes that `restoreState` takes back (nil when
    /// llama.cpp could not copy them).
    func state(of sequence: Int32) -> [UInt8]? {
        let size = llama_state_seq_get_size(pointer, sequence)
        guard size > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        let written = bytes.withUnsafeMutableBufferPointer { llama_state_seq_get_data(pointer, $0.baseAddress, size, sequence) }
        return written == size ? bytes : nil
    }

    /// Replaces what `sequence` holds with a state from `state(of:)`. False when llama.cpp refused
    /// it (the sequence is then empty).
    func restoreState(_ bytes: [UInt8], into sequence: Int32) -> Bool {
        removeTokens(sequence: sequence)
        let read = bytes.withUnsafeBufferPointer { llama_state_seq_set_data(pointer, $0.baseAddress, bytes.count, sequence) }
        if read == 0 { removeTokens(sequence: sequence) }
        return read > 0
    }

    /// Writes `sequence`'s state and its `tokens` to `path` (llama.cpp's sequence file format).
    func saveState(of sequence: Int32, tokens: [Token], to path: String) -> Bool {
        tokens.withUnsafeBufferPointer { llama_state_seq_save_file(pointer, path, sequence, $0.baseAddress, $0.count) } > 0
    }

    /// Loads a file from `saveState` into `sequence`; returns its tokens, or nil when the file is
    /// not a state of this model and context (the sequence is then empty).
    func loadState(into sequence: Int32, from path: String) -> [Token]? {
        removeTokens(sequence: sequence)
        var tokens = [Token](repeating: 0, count: sequenceContextSize)
        var count = 0
        let read = tokens.withUnsafeMutableBufferPointer {
            llama_state_seq_load_file(pointer, path, sequence, $0.baseAddress, $0.count, &count)
        }
        guard read > 0, count <= tokens.count else {
            removeTokens(sequence: sequence)
            return nil
        }
        return Array(tokens.prefix(count))
    }

    /// Logits for output row `index` of the last decode.
    func logits(at index: Int32) -> UnsafeMutablePointer<Float>? { llama_get_logits_ith(pointer, index) }

    /// The embedding of output row `index` of the last decode (an embeddings context's).
    func embedding(at index: Int32) -> UnsafeMutablePointer<Float>? { llama_get_embeddings_ith(pointer, index) }

    /// Whether attention is causal: a token's state then does not depend on the tokens after it.
    var isCausal: Bool { llama_get_causal_attn(pointer) }
}

/// A reusable llama_batch, owned with the context that decodes it.
final class LlamaBatch {
    private(set) var raw: llama_batch
    let capacity: Int

    init(capacity: Int, maxSequencesPerToken: Int = 1) {
        raw = llama_batch_init(Int32(capacity), 0, Int32(maxSequencesPerToken))
        self.capacity = capacity
    }

    deinit { llama_batch_free(raw) }

    var count: Int { Int(raw.n_tokens) }
    var isFull: Bool { count >= capacity }

    func clear() { raw.n_tokens = 0 }

    /// Appends a token. Returns its row index (to read logits from when `wantsLogits`).
    @discardableResult
    func append(_ token: Token, position: Int32, sequence: Int32, wantsLogits: Bool) -> Int32 {
        precondition(count < capacity, "batch overflow: the scheduler must respect the batch budget")
        let i = Int(raw.n_tokens)
        raw.token[i] = token
        raw.pos[i] = position
        raw.n_seq_id[i] = 1
        raw.seq_id[i]![0] = sequence
        raw.logits[i] = wantsLogits ? 1 : 0
        raw.n_tokens += 1
        return Int32(i)
    }
}
