import Foundation

/// How much memory a server needs for a model at a context size.
public struct MemoryEstimate: Sendable, Codable, Equatable {
    public var weightsBytes: UInt64
    public var kvCacheBytes: UInt64
    public var overheadBytes: UInt64
    /// Who made the estimate (e.g. "GGUF fallback estimate", "MemoryPlanner").
    public var source: String

    public init(weightsBytes: UInt64, kvCacheBytes: UInt64, overheadBytes: UInt64, source: String) {
        self.weightsBytes = weightsBytes; self.kvCacheBytes = kvCacheBytes; self.overheadBytes = overheadBytes; self.source = source
    }

    public var totalBytes: UInt64 { weightsBytes + kvCacheBytes + overheadBytes }
}

/// The seam `gemmactl doctor` estimates memory through. The planner in GemmaKit/Models (`gemmactl plan`)
/// plugs in here; `GGUFMemoryEstimator` is the fallback.
public protocol MemoryEstimating: Sendable {
    /// - Parameters:
    ///   - contextSize: the server's total context (`-c`), shared by its `parallel` slots as llama-server does.
    func estimate(modelPath: String, contextSize: Int, parallel: Int) throws -> MemoryEstimate
}

/// An estimate read from the GGUF header alone: the tensor bytes, an f16 KV cache (every layer at the full
/// context; for Gemma 3 the sliding-window layers at their window), and a rough allowance for compute
/// buffers, logits and the runtime.
public struct GGUFMemoryEstimator: MemoryEstimating {
    public init() {}

    public func estimate(modelPath: String, contextSize: Int, parallel: Int) throws -> MemoryEstimate {
        let file = try GGUFFile(path: modelPath)
        let layers = UInt64(max(0, file.arch("block_count")?.intValue ?? 0))
        let heads = file.arch("attention.head_count")?.intValue ?? 1
        let kvHeads = UInt64(max(1, file.arch("attention.head_count_kv")?.intValue ?? heads))
        let embedding = file.arch("embedding_length")?.intValue ?? 0
        let fallbackHeadDim = heads > 0 ? embedding / heads : 0
        let keyLength = UInt64(max(0, file.arch("attention.key_length")?.intValue ?? Int64(fallbackHeadDim)))
        let valueLength = UInt64(max(0, file.arch("attention.value_length")?.intValue ?? Int64(keyLength)))
        let bytesPerCell = kvHeads * (keyLength + valueLength) * 2 // f16 K and V
        let context = UInt64(max(0, contextSize))
        var kvBytes = layers * context * bytesPerCell
        if file.architecture == "gemma3", let window = file.arch("attention.sliding_window")?.intValue, window > 0 {
            // Gemma 3: every sixth layer attends globally; the others keep only their sliding window
            // per sequence (plus a batch), as llama.cpp sizes its SWA cache.
            let global = layers / 6
            let windowCells = min(context, UInt64(window) * UInt64(max(1, parallel)) + 512)
            kvBytes = global * context * bytesPerCell + (layers - global) * windowCells * bytesPerCell
        }
        let vocab = file.arch("vocab_size")?.intValue ?? (file["tokenizer.ggml.tokens"].flatMap { if case .array(_, let count, _) = $0 { Int64(count) } else { nil } } ?? 0)
        // Compute buffers, logits for each slot and the runtime: a rough allowance.
        let overhead: UInt64 = 256 << 20 + UInt64(max(0, vocab)) * 4 * UInt64(max(1, parallel))
        return MemoryEstimate(weightsBytes: file.tensorDataBytes, kvCacheBytes: kvBytes, overheadBytes: overhead,
                              source: "estimate from the GGUF header")
    }
}

/// An estimator from a closure, for plugging in a planner without a new type.
public struct ClosureMemoryEstimator: MemoryEstimating {
    let body: @Sendable (String, Int, Int) throws -> MemoryEstimate
    public init(_ body: @escaping @Sendable (_ modelPath: String, _ contextSize: Int, _ parallel: Int) throws -> MemoryEstimate) {
        self.body = body
    }
    public func estimate(modelPath: String, contextSize: Int, parallel: Int) throws -> MemoryEstimate {
        try body(modelPath, contextSize, parallel)
    }
}
