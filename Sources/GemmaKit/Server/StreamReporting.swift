import Foundation
import Synchronization

/// What llama-server's extensions ask a stream to carry besides the text: running `timings` in
/// every chunk (`timings_per_token`) and prompt-progress chunks (`return_progress`), with one
/// clock per choice.
struct StreamReporting: Sendable {
    let timingsPerToken: Bool
    let progress: Bool
    let timers: [StreamTimer]

    init(_ fields: LlamaRequestFields, choices: Int) {
        timingsPerToken = fields.timingsPerToken == true
        progress = fields.returnProgress == true
        timers = (0..<choices).map { _ in StreamTimer() }
    }

    /// The running timings for `event` of `choice` when they go out with every chunk (the clock
    /// sees every event either way).
    func timings(_ event: GenerationEvent, choice: Int) -> LlamaTimings? {
        let timings = timers[choice].observe(event)
        return timingsPerToken ? timings : nil
    }
}

/// The clock behind `timings_per_token` and prompt progress for one streamed choice: the engine
/// reports timings once, at the end, so a stream's running timings are measured where its events
/// arrive (the same events, a hop later).
final class StreamTimer: Sendable {
    private struct State {
        var started: ContinuousClock.Instant?
        var firstToken: ContinuousClock.Instant?
        var promptTokens = 0
        var cached = 0
        var predicted = 0
        /// The prompt's progress before the first token, as the engine last reported it.
        var evaluatedSoFar = 0
        var promptTimeSoFar = Duration.zero
    }
    private let state = Mutex(State())

    /// Call for every event; returns the timings so far.
    func observe(_ event: GenerationEvent) -> LlamaTimings {
        state.withLock { state in
            let now = ContinuousClock.now
            switch event {
            case .started(_, let promptTokens, let cached):
                state.started = now
                state.promptTokens = promptTokens
                state.cached = cached
            case .text(_, _, let tokens):
                if state.firstToken == nil { state.firstToken = now }
                state.predicted += tokens.count
            case .promptProgress(let progress):
                // As llama-server's running timings: the tokens evaluated and the time taken up
                // to the last batch of the prompt decoded.
                state.evaluatedSoFar = progress.processed - progress.cached
                state.promptTimeSoFar = progress.elapsed
            case .finished:
                break
            }
            guard let firstToken = state.firstToken else {
                return LlamaTimings(cached: state.cached, evaluated: state.evaluatedSoFar, promptTime: state.promptTimeSoFar,
                                    predicted: 0, predictionTime: .zero)
            }
            return LlamaTimings(cached: state.cached, evaluated: state.promptTokens - state.cached,
                                promptTime: firstToken - (state.started ?? firstToken), predicted: state.predicted,
                                predictionTime: now - firstToken)
        }
    }

    /// Tokens generated so far.
    var predicted: Int { state.withLock { $0.predicted } }
}
