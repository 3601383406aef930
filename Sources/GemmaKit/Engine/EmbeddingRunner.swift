import CLlama
import Foundation

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
    /// The input in progress: the sum of its pooled per-token states (each of them, for
    /// `.none`), how many went into the sum, and how many tokens are in.
    private var progress: (sum: [Double], rows: [[Float]], pooled: Int, decoded: Int)?

    init(model: LlamaModel, contextSize: Int, threads: Int, pooling: EmbeddingPooling = .mean) {
        self.model = model
        self.contextSize = contextSize
        self.threads = threads
        self.pooling = pooling
    }

    /// Decodes the next chunk of `tokens` (at most the context size, checked on submit); returns
    /// its rows once the whole input is in, nil while it is not: the pooled vector, or one vector
    /// per token for `.none`, not normalised. The same input must be passed until it returns or
    /// throws.
    func advance(_ tokens: [Token]) throws(EngineError) -> [[Float]]? {
        let context = try preparedContext()
        var (sum, rows, pooled, decoded) = progress ?? ([Double](repeating: 0, count: model.embeddingSize), [], 0, 0)
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
                if pooling == .none {
                    rows.append(Array(UnsafeBufferPointer(start: state, count: sum.count)))
                } else {
                    for index in sum.indices { sum[index] += Double(state[index]) }
                    pooled += 1
                }
            }
            decoded = end
        } catch {
            progress = nil
            context.removeTokens(sequence: 0)
            throw error
        }
        guard decoded == tokens.count else {
            progress = (sum, rows, pooled, decoded)
            return nil
        }
        progress = nil
        context.removeTokens(sequence: 0)
        if pooling == .none { return rows }
        return [sum.map { Float($0 / Double(max(pooled, 1))) }]
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

/// How token states are pooled: llama-server's `--pooling` values but `rank` (a reranker's score).
public enum EmbeddingPooling: String, Sendable, CaseIterable {
    /// The mean of every token's state.
    case mean
    /// The first token's state.
    case cls
    /// The last token's state.
    case last
    /// No pooling: a vector per token, which only llama-server's native `/embedding` answers.
    case none

    /// Whether the state at `position` of an input of `count` tokens goes into the pooled vector.
    func includes(position: Int, of count: Int) -> Bool {
        switch self {
        case .mean, .none: true
        case .cls: position == 0
        case .last: position == count - 1
        }
    }

    /// `--pooling`'s value, checked (a `Setting` parser: the message starts with "must be");
    /// llama-server's other values are refused by name.
    public static func parse(_ text: String) throws(InputError) -> EmbeddingPooling {
        if let pooling = EmbeddingPooling(rawValue: text) { return pooling }
        let choices = allCases.map(\.rawValue).joined(separator: ", ")
        if text == "rank" {
            throw InputError("must be one of \(choices): 'rank' is not supported, this server runs no reranking")
        }
        throw InputError("must be one of \(choices), got '\(text)'")
    }
}

/// How a vector is scaled (llama-server's `embd_normalize`).
public enum EmbeddingNormalization: Sendable, Equatable {
    /// As computed (-1).
    case none
    /// Divided by its largest absolute component, scaled to int16's range (0), as llama.cpp does.
    case maxAbsolute
    /// Divided by its p-norm: 1 taxicab, 2 Euclidean (the default), more for other p-norms.
    case pNorm(Int)

    /// From llama-server's number; nil for numbers below -1.
    public init?(llamaServerValue value: Int) {
        switch value {
        case -1: self = .none
        case 0: self = .maxAbsolute
        case 1...: self = .pNorm(value)
        default: return nil
        }
    }

    public func apply(_ vector: [Float]) -> [Float] {
        let divisor: Double
        switch self {
        case .none: return vector
        case .maxAbsolute: divisor = Double(vector.map { abs($0) }.max() ?? 0) / 32760
        case .pNorm(2): divisor = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        case .pNorm(let p): divisor = pow(vector.reduce(0) { $0 + pow(Double(abs($1)), Double(p)) }, 1 / Double(p))
        }
        return divisor > 0 ? vector.map { Float(Double($0) / divisor) } : vector
    }
}
