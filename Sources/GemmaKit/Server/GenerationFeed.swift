import Foundation
import Synchronization

/// A running generation as the server consumes it: the engine's thread yields events straight
/// into `items` (see `InferenceEngine.submit`), and the streamer's own keep-alive ticks join the
/// same stream, so each token wakes one task, not a relay task and then the writer.
///
/// Consume it once. Dropping it or cancelling the consuming task cancels the generation.
struct GenerationFeed: Sendable {
    enum Item: Sendable {
        case event(GenerationEvent)
        case failed(any Error)
        case end
        case tick
    }

    let items: AsyncStream<Item>
    /// Where the streamer adds its keep-alive ticks.
    let continuation: AsyncStream<Item>.Continuation
    private let ticket: GenerationTicket

    /// Submits `request` to `engine`; throws the engine's refusal as it is.
    ///
    /// `streamed: false` (an answer sent whole) gathers the text on the engine's thread and
    /// passes it on as one `text` event just before `finished`, so the waiting handler is woken a
    /// few times per request instead of once per token.
    init(_ request: GenerationRequest, engine: InferenceEngine, streamed: Bool) throws(EngineError) {
        let (items, continuation) = AsyncStream<Item>.makeStream()
        let held = streamed ? nil : HeldText()
        let sink = GenerationSink(receive: { event in
            if let held {
                switch event {
                case .text(let text, let logprobs):
                    held.append(text, logprobs)
                    return
                case .finished:
                    let (text, logprobs) = held.take()
                    continuation.yield(.event(.text(text, logprobs: logprobs)))
                case .started:
                    break
                }
            }
            continuation.yield(.event(event))
        }, finish: { error in
            continuation.yield(error.map { .failed($0) } ?? .end)
            continuation.finish()
        })
        let ticket = try engine.submit(request, to: sink)
        continuation.onTermination = { termination in
            if case .cancelled = termination { ticket.cancel() }
        }
        self.items = items
        self.continuation = continuation
        self.ticket = ticket
    }

    /// Stops the generation if it is still running, and ends `items`.
    func cancel() {
        ticket.cancel()
        continuation.finish()
    }
}

/// Text held back for an answer sent whole. Only the engine's thread touches it; the lock makes
/// that provable to the compiler.
private final class HeldText: Sendable {
    private let state = Mutex<(text: String, logprobs: [TokenLogprob])>(("", []))

    func append(_ text: String, _ logprobs: [TokenLogprob]) {
        state.withLock {
            $0.text += text
            $0.logprobs += logprobs
        }
    }

    func take() -> (String, [TokenLogprob]) {
        state.withLock { state in
            defer { state = ("", []) }
            return (state.text, state.logprobs)
        }
    }
}
