import Foundation
import Hummingbird
import NIOCore
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
    fileprivate let continuation: AsyncStream<Item>.Continuation
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

/// Writes a generation as a streamed body: each event becomes zero or more lines, a keep-alive
/// comment goes out when nothing was written for `pingInterval` (gateways cut idle streams), and
/// a client that goes away cancels the generation (leaving the loop drops the feed).
struct GenerationStreamer: Sendable {
    let feed: GenerationFeed
    let pingInterval: Duration
    /// The keep-alive line, or nil for formats without comments (NDJSON).
    let ping: String?
    let deadline: ContinuousClock.Instant?

    /// Calls `write` for each event (and `onError` for a failure mid-stream) and pings meanwhile.
    func run(writer: inout any ResponseBodyWriter,
             encode: @escaping (GenerationEvent) -> [String],
             onError: (any Error) -> [String]) async throws {
        let interval = deadline.map { min(pingInterval, max(.milliseconds(50), $0 - .now)) } ?? pingInterval
        let ticks = feed.continuation
        let ticker = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: min(interval, .seconds(1)))
                ticks.yield(.tick)
            }
        }
        var ended = false
        defer {
            ticker.cancel()
            // A client that went away, or the deadline: the generation must stop too.
            if !ended { feed.cancel() }
        }
        var lastWrite = ContinuousClock.now
        loop: for await item in feed.items {
            var lines: [String] = []
            switch item {
            case .event(let event):
                lines = encode(event)
            case .failed(let error):
                ended = true
                lines = onError(error)
                try await writeLines(lines, to: &writer)
                break loop
            case .end:
                ended = true
                break loop
            case .tick:
                if let deadline, ContinuousClock.now >= deadline {
                    lines = onError(APIError(.gatewayTimeout, "the request took longer than --request-timeout"))
                    try await writeLines(lines, to: &writer)
                    break loop
                }
                if let ping, ContinuousClock.now - lastWrite >= pingInterval { lines = [ping] }
            }
            if !lines.isEmpty {
                try await writeLines(lines, to: &writer)
                lastWrite = .now
            }
        }
    }

    private func writeLines(_ lines: [String], to writer: inout any ResponseBodyWriter) async throws {
        guard !lines.isEmpty else { return }
        try await writer.write(ByteBuffer(string: lines.joined()))
    }
}

/// JSON encoding shared by the handlers.
enum JSONBody {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    static func string(_ value: some Encodable) -> String {
        (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "{}"
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: string(value))))
    }

    static func response(object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Decodes a request body; errors name the field.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the request body is larger than the limit of \(limit) bytes (--max-body-size)")
        }
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("the request body is empty; send a JSON object") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw APIError.from(decoding: error)
        }
    }
}
