import CLlama
import Foundation
import Testing
@testable import GemmaKit

/// The runner decodes a causal model's input a chunk at a time and pools the per-token states
/// itself; the vector must be the one llama.cpp's own mean pooling gives for the whole input in
/// one decode (the way the runner worked before, at about 4 GB for 2,000 tokens).
@Suite struct EmbeddingRunnerTests {
    @Test func chunkedPoolingMatchesOneDecodeMeanPooling() async throws {
        let model = TestModel.shared
        let text = (1...24).map { "Sentence \($0) talks about pods, volumes and gateways." }.joined(separator: " ")
        let tokens = model.tokenize(text)
        #expect(tokens.count > 3 * EmbeddingRunner.chunkSize, "the input must span several chunks")

        // On a thread of its own, as the engine runs it: decoding must not hold up the test pool.
        let (chunked, steps, again, perToken, reference) = try await WorkerThread(name: "embedding-test").runOnce {
            let runner = EmbeddingRunner(model: model, contextSize: 1024, threads: 2)
            func embed(_ runner: EmbeddingRunner) throws -> ([[Float]], Int) {
                var steps = 1
                while true {
                    if let rows = try runner.advance(tokens) { return (rows, steps) }
                    steps += 1
                }
            }
            let (first, steps) = try embed(runner)
            // The runner starts the next input from an empty sequence.
            let (second, _) = try embed(runner)
            let (rows, _) = try embed(EmbeddingRunner(model: model, contextSize: 1024, threads: 2, pooling: .none))
            return (EmbeddingNormalization.pNorm(2).apply(first[0]), steps, EmbeddingNormalization.pNorm(2).apply(second[0]),
                    rows, Self.meanPooledInOneDecode(model: model, tokens: tokens))
        }
        #expect(steps == (tokens.count + EmbeddingRunner.chunkSize - 1) / EmbeddingRunner.chunkSize)
        #expect(again == chunked)
        let expected = try #require(reference)
        #expect(chunked.count == expected.count)
        let cosine = zip(chunked, expected).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(cosine > 0.9999, "cosine similarity \(cosine)")
        // Without pooling: one row per token, whose mean is the pooled vector.
        #expect(perToken.count == tokens.count)
        let mean = (0..<expected.count).map { index in perToken.reduce(Float(0)) { $0 + $1[index] } / Float(perToken.count) }
        let rowsCosine = zip(EmbeddingNormalization.pNorm(2).apply(mean), expected).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(rowsCosine > 0.9999, "cosine similarity \(rowsCosine)")
    }

    /// `--pooling cls` and `last` take the first and last token's state, as llama.cpp's own pooling does.
    @Test(arguments: [EmbeddingPooling.cls, .last])
    func poolingMatchesLlamaCpps(_ pooling: EmbeddingPooling) async throws {
        let llamaPooling = pooling == .cls ? LLAMA_POOLING_TYPE_CLS : LLAMA_POOLING_TYPE_LAST
        let model = TestModel.shared
        let tokens = model.tokenize((1...12).map { "Line \($0) is about clusters." }.joined(separator: " "))
        #expect(tokens.count > EmbeddingRunner.chunkSize, "the input must span several chunks")
        let (vector, mean, reference) = try await WorkerThread(name: "embedding-test").runOnce {
            func embed(_ runner: EmbeddingRunner) throws -> [Float] {
                while true { if let rows = try runner.advance(tokens) { return EmbeddingNormalization.pNorm(2).apply(rows[0]) } }
            }
            return (try embed(EmbeddingRunner(model: model, contextSize: 1024, threads: 2, pooling: pooling)),
                    try embed(EmbeddingRunner(model: model, contextSize: 1024, threads: 2)),
                    Self.meanPooledInOneDecode(model: model, tokens: tokens, pooling: llamaPooling))
        }
        let expected = try #require(reference)
        func cosine(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        // One state, not an average: chunked and one-batch kernels differ a little more than for mean.
        #expect(cosine(vector, expected) > 0.999, "\(pooling): cosine similarity \(cosine(vector, expected))")
        #expect(cosine(vector, mean) < 0.99, "\(pooling) pools differently from mean: cosine \(cosine(vector, mean))")
    }

    /// llama.cpp's pooling (mean unless said) over `tokens` in a single batch, L2-normalised.
    static func meanPooledInOneDecode(model: LlamaModel, tokens: [Token],
                                      pooling: llama_pooling_type = LLAMA_POOLING_TYPE_MEAN) -> [Float]? {
        var params = llama_context_default_params()
        params.n_ctx = UInt32(tokens.count)
        params.n_batch = UInt32(tokens.count)
        params.n_ubatch = UInt32(tokens.count)
        params.n_seq_max = 1
        params.n_threads = 2
        params.n_threads_batch = 2
        params.embeddings = true
        params.pooling_type = pooling
        guard let context = llama_init_from_model(model.pointer, params) else { return nil }
        defer { llama_free(context) }
        var batch = llama_batch_init(Int32(tokens.count), 0, 1)
        defer { llama_batch_free(batch) }
        for (position, token) in tokens.enumerated() {
            batch.token[position] = token
            batch.pos[position] = Int32(position)
            batch.n_seq_id[position] = 1
            batch.seq_id[position]![0] = 0
            batch.logits[position] = 1
        }
        batch.n_tokens = Int32(tokens.count)
        guard llama_decode(context, batch) == 0, let pooled = llama_get_embeddings_seq(context, 0) else { return nil }
        let vector = Array(UnsafeBufferPointer(start: pooled, count: model.embeddingSize))
        let norm = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        return vector.map { Float(Double($0) / norm) }
    }
}
