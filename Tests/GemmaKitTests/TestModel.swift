import Foundation
@testable import GemmaKit

/// The real default model, loaded once per test process.
enum TestModel {
    static let path: String = {
        if let path = ProcessInfo.processInfo.environment["GEMMA_TEST_MODEL"] { return path }
        do { return try DefaultModel.path(in: .resolve(environment: ProcessInfo.processInfo.environment)) } catch { fatalError("\(error) (the test suite needs the default model: run scripts/setup)") }
    }()

    static let shared: LlamaModel = {
        do { return try LlamaModel(path: path) } catch { fatalError("cannot load the test model: \(error)") }
    }()

    /// A fresh engine on the shared model; `deterministic` (`serve --deterministic`) by default,
    /// so tests may compare greedy text across batches and cache reuse.
    static func engine(contextSize: Int = 2048, slots: Int = 1, batchSize: Int = 512, deterministic: Bool = true,
                       promptCache: PromptCacheSetting = .off, slotSavePath: String? = nil) async throws -> InferenceEngine {
        try await InferenceEngine.start(model: shared, options: EngineOptions(
            context: ContextOptions(contextSize: contextSize, sequences: slots, batchSize: batchSize, batchInvariant: deterministic),
            promptCache: promptCache, slotSavePath: slotSavePath))
    }
}

/// The full text and stats of a generation.
struct Completion {
    var text = ""
    var stats: GenerationStats?
    var logprobs: [TokenLogprob] = []
}

extension InferenceEngine {
    func complete(_ request: GenerationRequest) async throws -> Completion {
        var completion = Completion()
        for try await event in try generate(request) {
            switch event {
            case .started, .promptProgress: break
            case .text(let text, let logprobs, _):
                completion.text += text
                completion.logprobs += logprobs
            case .finished(let stats): completion.stats = stats
            }
        }
        return completion
    }
}
