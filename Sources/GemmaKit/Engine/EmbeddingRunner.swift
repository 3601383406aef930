import CLlama

/// Computes embeddings for the engine, on the engine's thread between decode steps, so embedding
/// requests never take a generation slot and never compute at the same time as a decode (both
/// would use every core).
///
/// Its context (pooled embeddings, `contextSize` tokens, one sequence) is created on first use
/// and freed with the runner, on the engine's thread. `MemoryPlanner` does not count it: llama.cpp
/// computes logits for every token of an embeddings batch, so its memory grows with the input
/// (measured with the default model: about 55 MB after a short input, about 4 GB for 2000 tokens).
final class EmbeddingRunner {
    private let model: LlamaModel
    private let options: ContextOptions
    private var context: LlamaContext?
    private var batch: LlamaBatch?

    init(model: LlamaModel, contextSize: Int, threads: Int) {
        self.model = model
        options = ContextOptions(contextSize: contextSize, sequences: 1, batchSize: contextSize, microBatchSize: contextSize,
                                 threads: threads, embeddings: true)
    }

    /// The L2-normalised mean-pooled vector of `tokens` (at most the context size, checked on submit).
    func embed(_ tokens: [Token]) throws(EngineError) -> [Float] {
        if context == nil {
            context = try LlamaContext(model: model, options: options)
            batch = LlamaBatch(capacity: options.contextSize)
        }
        let context = context!, batch = batch!
        context.removeTokens(sequence: 0)
        defer { context.removeTokens(sequence: 0) }
        batch.clear()
        for (position, token) in tokens.enumerated() {
            batch.append(token, position: Int32(position), sequence: 0, wantsLogits: true)
        }
        try context.decode(batch)
        guard let pooled = context.pooledEmbedding(sequence: 0) else {
            throw EngineError(.embeddingsFailed, "llama.cpp returned no embedding")
        }
        let vector = Array(UnsafeBufferPointer(start: pooled, count: model.embeddingSize))
        let norm = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        return norm > 0 ? vector.map { Float(Double($0) / norm) } : vector
    }
}
