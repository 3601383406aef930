import Foundation
import Synchronization

/// The running generations of one request (one per choice: `n`, or several prompts) as the
/// server consumes them: the engine's thread yields events straight into `items` (see
/// `InferenceEngine.submit`), and the streamer's own keep-alive ticks join the same stream, so
/// each token wakes one task, not a relay task and then the writer.
///
/// Consume it once. Dropping it or cancelling the consuming task cancels every generation.
struct GenerationFeed: Sendable {
    enum Item: Sendable {
        /// An event of the generation for choice `choice` (the index of its request).
        case event(GenerationEvent, choice: Int)
        /// One generation failed; nothing follows (the consumer cancels the others).
        case failed(any Error)
        /// Every generation has finished.
        case end
        case tick
    }

    let items: AsyncStream<Item>
    /// Where the streamer adds its keep-alive ticks.
    let continuation: AsyncStream<Item>.Continuation
    /// How many generations run (the choices).
    let count: Int
    private let tickets: [GenerationTicket]

    /// Submits each of `requests` to `engine`; throws the engine's first refusal as it is, after
    /// cancelling those already submitted.
    ///
    /// `streamed: false` (an answer sent whole) gathers each generation's text on the engine's
    /// thread and passes it on as one `text` event just before `finished`, so the waiting
    /// handler is woken a few times per request instead of once per token. Prompt progress is
    /// only for streams: it is dropped then.
    init(_ requests: [GenerationRequest], engine: InferenceEngine, streamed: Bool) throws(EngineError) {
        let (items, continuation) = AsyncStream<Item>.makeStream()
        let running = RunningCount(requests.count)
        var tickets: [GenerationTicket] = []
        for (choice, request) in requests.enumerated() {
            let held = streamed ? nil : HeldText()
            let sink = GenerationSink(receive: { event in
                if let held {
                    switch event {
                    case .text(let text, let logprobs, let tokens):
                        held.append(text, logprobs, tokens)
                        return
                    case .finished:
                        let (text, logprobs, tokens) = held.take()
                        continuation.yield(.event(.text(text, logprobs: logprobs, tokens: tokens), choice: choice))
                    case .promptProgress:
                        return
                    case .started:
                        break
                    }
                }
                continuation.yield(.event(event, choice: choice))
            }, finish: { error in
                if let error {
                    continuation.yield(.failed(error))
                    continuation.finish()
                    return
                }
                if running.finishOne() {
                    continuation.yield(.end)
                    continuation.finish()
                }
            })
            do {
                tickets.append(try engine.submit(request, to: sink))
            } catch {
                for ticket in tickets { ticket.cancel() }
                continuation.finish()
                throw error
            }
        }
        let submitted = tickets
        continuation.onTermination = { termination in
            if case .cancelled = termination { for ticket in submitted { ticket.cancel() } }
        }
        self.items = items
        self.continuation = continuation
        self.count = requests.count
        self.tickets = submitted
    }

    /// Stops the generations still running, and ends `items`.
    func cancel() {
        for ticket in tickets { ticket.cancel() }
        continuation.finish()
    }
}

/// How many of a feed's generations are still running.
private final class RunningCount: Sendable {
    private let count: Mutex<Int>
    init(_ count: Int) { self.count = Mutex(count) }

    /// Counts one more finished; true for the last.
    func finishOne() -> Bool {
        count.withLock { count in
            count -= 1
            return count == 0
        }
    }
}

/// Text held back for an answer sent whole. Only the engine's thread touches it; the lock makes
/// that provable to the compiler.
private final class HeldText: Sendable {
    private let state = Mutex<(text: String, logprobs: [TokenLogprob], tokens: [Token])>(("", [], []))

    func append(_ text: String, _ logprobs: [TokenLogprob], _ tokens: [Token]) {
        state.withLock {
            $0.text += text
            $0.logprobs += logprobs
            $0.tokens += tokens
        }
    }

    func take() -> (String, [TokenLogprob], [Token]) {
        state.withLock { state in
            defer { state = ("", [], []) }
            return (state.text, state.logprobs, state.tokens)
        }
    }
}
