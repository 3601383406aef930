import Foundation

/// llama-server's `timings` object.
struct LlamaTimings: Encodable {
    let cacheN: Int
    let promptN: Int, promptMs: Double, promptPerTokenMs: Double, promptPerSecond: Double
    let predictedN: Int, predictedMs: Double, predictedPerTokenMs: Double, predictedPerSecond: Double
    /// Speculation's drafted and accepted tokens, present (as in llama-server) only when it drafted.
    var draftN: Int?, draftNAccepted: Int?

    init(cached: Int, evaluated: Int, promptTime: Duration, predicted: Int, predictionTime: Duration) {
        func milliseconds(_ duration: Duration) -> Double { duration.seconds * 1000 }
        cacheN = cached
        promptN = evaluated
        promptMs = milliseconds(promptTime)
        promptPerTokenMs = evaluated > 0 ? promptMs / Double(evaluated) : 0
        promptPerSecond = promptMs > 0 ? Double(evaluated) * 1000 / promptMs : 0
        predictedN = predicted
        predictedMs = milliseconds(predictionTime)
        // As llama-server: the first token comes with the prompt's last batch, so the rates count
        // the decode steps after it.
        let steps = Double(max(0, predicted - 1))
        predictedPerTokenMs = steps > 0 ? predictedMs / steps : 0
        predictedPerSecond = predictedMs > 0 ? steps * 1000 / predictedMs : 0
    }

    /// A finished generation's.
    init(_ stats: GenerationStats) {
        self.init(cached: stats.cachedTokens, evaluated: stats.promptTokens - stats.cachedTokens, promptTime: stats.promptDuration,
                  predicted: stats.completionTokens, predictionTime: stats.generationDuration)
        if stats.drafts.tokens > 0 {
            draftN = stats.drafts.tokens
            draftNAccepted = stats.drafts.accepted
        }
    }
}

/// llama-server's `prompt_progress` object.
struct PromptProgressJSON: Encodable {
    let total: Int, cache: Int, processed: Int
    let timeMs: Int
    init(_ progress: PromptProgress) {
        total = progress.total
        cache = progress.cached
        processed = progress.processed
        timeMs = Int(progress.elapsed.seconds * 1000)
    }
}

/// llama-server's `system_fingerprint`: the llama.cpp build.
enum SystemFingerprint {
    static let value = "llama.cpp-\(LlamaBackend.buildCommit)"
}
