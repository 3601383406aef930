import CLlama
import Foundation

/// Computes embeddings on a context of its own, so embedding requests never take a generation slot.
///
/// The context is created lazily, then used and freed only on the embedder's worker thread.
public final class Embedder: @unchecked Sendable {
    public let model: LlamaModel
    public let contextSize: Int
    private let threads: Int
    private let worker = WorkerThread(name: "gemmactl-embed")
    // Touched on the worker thread only.
    private var context: LlamaContext?
    private var batch: LlamaBatch?

    public init(model: LlamaModel, contextSize: Int = 2048, threads: Int = CPUBudget.defaultThreads) {
        self.model = model
        self.contextSize = contextSize
        self.threads = threads
    }

    deinit {
        let context = self.context
        let batch = self.batch
        worker.stop { _ = (batch, context) }
    }

    /// One L2-normalised vector per input, mean-pooled over its tokens.
    public func embed(_ inputs: [[Token]]) async throws -> [[Float]] {
        for (index, tokens) in inputs.enumerated() {
            guard !tokens.isEmpty else { throw EngineError(.emptyPrompt, "input[\(index)] is empty") }
            guard tokens.count <= contextSize else {
                throw EngineError(.promptTooLong, "input[\(index)] is \(tokens.count) tokens but embeddings take at most \(contextSize)")
            }
        }
        return try await worker.run { [self] () throws -> [[Float]] in
            try inputs.map { try embedOnWorker($0) }
        }
    }

    private func embedOnWorker(_ tokens: [Token]) throws -> [Float] {
        if context == nil {
            context = try LlamaContext(model: model, options: ContextOptions(
                contextSize: contextSize, sequences: 1, batchSize: contextSize, microBatchSize: contextSize,
                threads: threads, embeddings: true))
            batch = LlamaBatch(capacity: contextSize)
        }
        let context = context!, batch = batch!
        context.removeTokens(sequence: 0)
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
        context.removeTokens(sequence: 0)
        return norm > 0 ? vector.map { Float(Double($0) / norm) } : vector
    }
}

/// A thread that runs submitted closures one at a time, in order; for C state owned by one thread.
final class WorkerThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopping = false

    init(name: String) {
        let thread = Thread { [condition] in
            nameCurrentThread(name)
            while true {
                condition.lock()
                while self.jobs.isEmpty && !self.stopping { condition.wait() }
                if self.jobs.isEmpty { condition.unlock(); return }
                let job = self.jobs.removeFirst()
                condition.unlock()
                job()
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Runs `body` on the thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            condition.withLock {
                jobs.append { continuation.resume(with: Result { try body() }) }
                condition.signal()
            }
        }
    }

    /// Runs `last` on the thread after everything queued, then ends the thread.
    func stop(_ last: @escaping () -> Void) {
        condition.withLock {
            jobs.append(last)
            stopping = true
            condition.signal()
        }
    }
}
