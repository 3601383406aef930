import CLlama

/// Computes embeddings for the engine, on the engine's thread between decode steps, so embedding
/// requests never take a generation slot and never compute at the same time as a decode (both
/// would use every core).
///
/// llama.cpp computes logits over the whole vocabulary for every token of an embeddings batch
/// (262,144 floats a token for Gemma 3), in its output buffer and again in the compute graph:
/// decoding a 2,000-token input at once took about 4 GB. A causal model's per-token states do not
/// depend on what comes after them, so the runner decodes an input `chunkSize` tokens per step,
/// continuing the same sequence, and pools the per-token states itself (`--pooling`): memory stays
/// bounded by the chunk (see `MemoryPlanner`), and a long input shares the cores with generation
/// step by step. A non-causal model (an encoder) sees the whole input in one decode.
///
/// Its context (one sequence, `contextSize` tokens) is created on first use and freed with the
/// runner, on the engine's thread.
final class EmbeddingRunner {
    /// Tokens decoded per step for a causal model.
    static let chunkSize = 64

    private let model: LlamaModel
    private let contextSize: Int
    private let threads: Int
    private let pooling: EmbeddingPooling
    private var context: LlamaContext?
    private var batch: LlamaBatch?
    /// The input in progress: the sum of its pooled per-token states and how many tokens are in.
    private var progress: (sum: [Double], decoded: Int)?

    init(model: LlamaModel, contextSize: Int, threads: Int, pooling: EmbeddingPooling = .mean) {
        self.model = model
        self.contextSize = contextSize
        self.threads = threads
        self.pooling = pooling
    }

    /// Decodes the next chunk of `tokens` (at most the context size, checked on submit); returns
    /// its L2-normalised pooled vector once the whole input is in, nil while it is not.
    /// The same input must be passed until it returns a vector or throws.
    func advance(_ tokens: [Token]) throws(EngineError) -> [Float]? {
        let context = try preparedContext()
        var (sum, decoded) = progress ?? ([Double](repeating: 0, count: model.embeddingSize), 0)
        if decoded == 0 { context.removeTokens(sequence: 0) }
        do throws(EngineError) {
            let end = context.isCausal ? min(tokens.count, decoded + Self.chunkSize) : tokens.count
            let batch = batch!
            batch.clear()
            for position in decoded..<end {
                batch.append(tokens[position], position: Int32(position), sequence: 0, wantsLogits: true)
            }
            try context.decode(batch)
            for row in 0..<Int32(end - decoded) where pooling.includes(position: decoded + Int(row), of: tokens.count) {
                guard let state = context.embedding(at: row) else {
                    throw EngineError(.embeddingsFailed, "llama.cpp returned no embedding")
                }
                for index in sum.indices { sum[index] += Double(state[index]) }
            }
            decoded = end
        } catch {
            progress = nil
            context.removeTokens(sequence: 0)
            throw error
        }
        guard decoded == tokens.count else {
            progress = (sum, decoded)
            return nil
        }
        progress = nil
        context.removeTokens(sequence: 0)
        let norm = sum.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return sum.map { Float(norm > 0 ? $0 / norm : $0) }
    }

    private func preparedContext() throws(EngineError) -> LlamaContext {
        if let context { return context }
        // Chunk-sized buffers first (the logits llama.cpp keeps scale with the batch); an encoder,
        // which must see its whole input in one decode, gets a context sized for that instead.
        var options = ContextOptions(contextSize: contextSize, sequences: 1, batchSize: Self.chunkSize,
                                     microBatchSize: Self.chunkSize, threads: threads, embeddings: true)
        var created = try LlamaContext(model: model, options: options)
        if !created.isCausal {
            options.batchSize = contextSize
            options.microBatchSize = contextSize
            created = try LlamaContext(model: model, options: options)
        }
        context = created
        batch = LlamaBatch(capacity: options.batchSize)
        return created
    }
}

/// How token states are pooled into one embedding: llama-server's `--pooling` values that give one
/// vector per input (`none`, a vector per token, and `rank`, a reranker's score, do not).
public enum EmbeddingPooling: String, Sendable, CaseIterable {
    /// The mean of every token's state.
    case mean
    /// The first token's state.
    case cls
    /// The last token's state.
    case last

    /// Whether the state at `position` of an input of `count` tokens goes into the pooled vector.
    func includes(position: Int, of count: Int) -> Bool {
        switch self {
        case .mean: true
        case .cls: position == 0
        case .last: position == count - 1
        }
    }

    /// `--pooling`'s value, checked (a `Setting` parser: the message starts with "must be");
    /// llama-server's other values are refused by name.
    public static func parse(_ text: String) throws(InputError) -> EmbeddingPooling {
        if let pooling = EmbeddingPooling(rawValue: text) { return pooling }
        let choices = allCases.map(\.rawValue).joined(separator: ", ")
        if text == "none" || text == "rank" {
            throw InputError("must be one of \(choices): '\(text)' is not supported, the embeddings endpoints return one pooled vector per input")
        }
        throw InputError("must be one of \(choices), got '\(text)'")
    }
}
