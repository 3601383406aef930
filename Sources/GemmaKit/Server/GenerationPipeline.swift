import Foundation
import Hummingbird
import NIOCore

/// What an API family contributes to a generation: the shape of its answers. Reading its request
/// into a `GenerationRequest` is the family's `prepare` step (see `GenerationPipeline.handle`);
/// starting the generation, streaming or collecting it, metrics, a client that goes away and
/// error mapping are the pipeline's, written once for every family.
///
/// To add an API: write its request decoding (returning a `GenerationPlan`) and a codec, then
/// declare its endpoint with `GenerationPipeline.endpoint`.
///
/// A plan may hold several generations (choices: OpenAI's `n`, llama-server's several prompts);
/// the pipeline runs them together and tags each event with its choice. Codecs of families that
/// answer with one choice only implement `encode(_:)` and `response(_:)`; the others override
/// the choice-aware requirements, whose defaults forward to those.
protocol GenerationCodec: Sendable {
    /// How streamed answers go over the wire.
    var streamFormat: StreamFormat { get }
    /// The framed lines to stream for one event (none is fine).
    func encode(_ event: GenerationEvent) -> [String]
    /// The whole answer, for a request that did not ask to stream.
    func response(_ result: CollectedGeneration) -> Response
    /// The framed lines to stream for one event of choice `choice`.
    func encode(_ event: GenerationEvent, choice: Int) -> [String]
    /// The last lines of a stream, once every choice has finished (OpenAI's `[DONE]`).
    func endOfStream(_ stats: [GenerationStats]) -> [String]
    /// The whole answer for every choice, in order.
    func response(_ results: [CollectedGeneration]) -> Response
    /// The last lines of a stream that failed after its 200 went out.
    func errorLines(_ error: APIError) -> [String]
}

extension GenerationCodec {
    func encode(_ event: GenerationEvent, choice: Int) -> [String] { encode(event) }
    func endOfStream(_ stats: [GenerationStats]) -> [String] { [] }
    func response(_ results: [CollectedGeneration]) -> Response { response(results[0]) }
    func errorLines(_ error: APIError) -> [String] { streamFormat.errorLines(error) }
}

/// What a request asks for, once read: the generations (one per choice), whether to stream
/// them, and how to answer.
struct GenerationPlan: Sendable {
    let requests: [GenerationRequest]
    /// The model that runs them: its engine, and its id for the metrics.
    let model: ModelHost.Loaded
    var engine: InferenceEngine { model.engine }
    let stream: Bool
    /// The prompt as text, for `--log-prompts`.
    let promptText: String
    let codec: any GenerationCodec

    init(requests: [GenerationRequest], on model: ModelHost.Loaded, stream: Bool, promptText: String, codec: any GenerationCodec) {
        self.requests = requests
        self.model = model
        self.stream = stream
        self.promptText = promptText
        self.codec = codec
    }

    /// A plan with one choice.
    init(request: GenerationRequest, on model: ModelHost.Loaded, stream: Bool, promptText: String, codec: any GenerationCodec) {
        self.init(requests: [request], on: model, stream: stream, promptText: promptText, codec: codec)
    }
}

/// What a generating endpoint's `prepare` step gives: a generation to run, or an answer that
/// needs none (Ollama answers an empty prompt by loading the model).
enum PreparedGeneration: Sendable {
    case generate(GenerationPlan)
    case answered(Response)
}

/// The wire formats of streamed answers.
enum StreamFormat: Sendable {
    /// Server-Sent Events (OpenAI): `data:` lines; a `: ping` comment keeps an idle stream open.
    case serverSentEvents
    /// Newline-delimited JSON (Ollama): no comments, so no keep-alive.
    case ndjson

    var headers: HTTPFields {
        [.contentType: self == .serverSentEvents ? "text/event-stream" : "application/x-ndjson",
         .cacheControl: "no-cache", .xAccelBuffering: "no"]
    }

    var ping: String? { self == .serverSentEvents ? ": ping\n\n" : nil }

    /// The last lines of a stream that failed after its 200 went out.
    func errorLines(_ error: APIError) -> [String] {
        switch self {
        case .serverSentEvents:
            ["data: " + JSONBody.string(["error": ["message": error.message, "type": error.type, "code": "\(error.status.code)"]]) + "\n\n"]
        case .ndjson:
            [JSONBody.string(["error": error.message]) + "\n"]
        }
    }

    /// One JSON value as a line of this format.
    func line(json: String) -> String {
        switch self {
        case .serverSentEvents: "data: " + json + "\n\n"
        case .ndjson: json + "\n"
        }
    }
}

/// A whole generation, gathered for an answer sent in one piece.
struct CollectedGeneration: Sendable {
    var text = ""
    var logprobs: [TokenLogprob] = []
    var tokens: [Token] = []
    var stats: GenerationStats
}

/// The one handler behind every generating endpoint.
struct GenerationPipeline: Sendable {
    let server: ServerCore

    typealias Prepare = @Sendable (Request, ServeRequestContext) async throws -> PreparedGeneration

    /// A POST endpoint at `path` whose request `prepare` reads.
    func endpoint(_ path: String, prepare: @escaping Prepare) -> Endpoint {
        Endpoint(.post, path) { request, context in try await handle(request, context: context, prepare: prepare) }
    }

    /// Prepares, starts, then streams or collects the generation. Engine refusals (full queue,
    /// prompt too long) become API errors through `APIError(_:)`, as everywhere else.
    func handle(_ request: Request, context: ServeRequestContext, prepare: Prepare) async throws -> Response {
        let plan: GenerationPlan
        switch try await prepare(request, context) {
        case .answered(let response): return response
        case .generate(let prepared): plan = prepared
        }
        if server.configuration.logPrompts { context.logger.info("prompt", metadata: ["prompt": "\(plan.promptText)"]) }
        let contextSize = plan.engine.slotContextSize
        if let long = plan.requests.first(where: { $0.prompt.count >= contextSize }) {
            throw APIError.exceedsContext(promptTokens: long.prompt.count, contextSize: contextSize)
        }
        let feed = try GenerationFeed(plan.requests, engine: plan.engine, streamed: plan.stream)
        if plan.stream { return stream(feed, codec: plan.codec, model: plan.model.modelID, on: context.eventLoop) }
        let results = try await collect(feed, context: context)
        for result in results { server.metrics.record(result.stats, model: plan.model.modelID) }
        return plan.codec.response(results)
    }

    private var deadline: ContinuousClock.Instant? { server.configuration.requestTimeout.map { .now + $0 } }

    /// A streamed answer, written from the connection's event loop (see `EventLoopTaskExecutor`).
    /// The streamer stops the generation when the client goes away (its write fails).
    private func stream(_ feed: GenerationFeed, codec: any GenerationCodec, model: String, on eventLoop: any EventLoop) -> Response {
        let format = codec.streamFormat
        let metrics = server.metrics
        let streamer = GenerationStreamer(feed: feed, pingInterval: server.configuration.ssePingInterval,
                                          ping: format.ping, deadline: deadline)
        return Response(status: .ok, headers: format.headers, body: ResponseBody { writer in
            try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop)) {
                try await streamer.run(writer: &writer, encode: { event, choice in
                    if case .finished(let stats) = event { metrics.record(stats, model: model) }
                    return codec.encode(event, choice: choice)
                }, end: { codec.endOfStream($0) }, onError: { codec.errorLines(APIError($0)) })
                try await writer.finish(nil)
            }
        })
    }

    /// The whole generation, bounded by --request-timeout. A client that goes away meanwhile
    /// (see `ConnectionWatcher`) cancels it at once, freeing its slot, and is logged as a 499.
    private func collect(_ feed: GenerationFeed, context: ServeRequestContext) async throws -> [CollectedGeneration] {
        let connection = await context.connectionWatcher()
        let registration = connection?.onGone { feed.cancel() }
        defer { registration?.cancel() }
        let work: @Sendable () async throws -> [CollectedGeneration] = {
            var parts = [(text: String, logprobs: [TokenLogprob], tokens: [Token])](repeating: ("", [], []), count: feed.count)
            var results = [CollectedGeneration?](repeating: nil, count: feed.count)
            for await item in feed.items {
                switch item {
                case .event(.started, _), .event(.promptProgress, _), .tick: break
                case .event(.text(let piece, let pieceLogprobs, let tokens), let choice):
                    parts[choice].text += piece
                    parts[choice].logprobs += pieceLogprobs
                    parts[choice].tokens += tokens
                case .event(.finished(let stats), let choice):
                    results[choice] = CollectedGeneration(text: parts[choice].text, logprobs: parts[choice].logprobs,
                                                          tokens: parts[choice].tokens, stats: stats)
                case .end:
                    let finished = results.compactMap { $0 }
                    if finished.count == feed.count { return finished }
                case .failed(let error):
                    feed.cancel()
                    throw error
                }
            }
            try Task.checkCancellation()
            throw APIError(.internalServerError, "the generation ended without a result")
        }
        do {
            guard let timeout = server.configuration.requestTimeout else { return try await work() }
            return try await withThrowingTaskGroup(of: [CollectedGeneration]?.self) { group in
                group.addTask { try await work() }
                group.addTask { try await Task.sleep(for: timeout); return nil }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let result = first else {
                    throw APIError(.gatewayTimeout, "the request took longer than --request-timeout (\(timeout))")
                }
                return result
            }
        } catch {
            if connection?.isGone == true {
                context.logger.info("client closed the connection; generation cancelled")
                throw APIError.clientClosedRequest
            }
            throw error
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

    /// Writes what `encode` makes of each event, what `end` makes of the choices' stats once
    /// all have finished (or `onError` of a failure mid-stream), and pings meanwhile.
    func run(writer: inout any ResponseBodyWriter,
             encode: @escaping (GenerationEvent, Int) -> [String],
             end: ([GenerationStats]) -> [String],
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
        var finished: [GenerationStats?] = Array(repeating: nil, count: feed.count)
        loop: for await item in feed.items {
            var lines: [String] = []
            switch item {
            case .event(let event, let choice):
                if case .finished(let stats) = event { finished[choice] = stats }
                lines = encode(event, choice)
            case .failed(let error):
                // Stops the other choices.
                feed.cancel()
                lines = onError(error)
                try await writeLines(lines, to: &writer)
                break loop
            case .end:
                ended = true
                try await writeLines(end(finished.compactMap { $0 }), to: &writer)
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

/// Fields every OpenAI answer of one request shares.
struct ResponseIdentity: Sendable {
    let id: String
    let created: Int
    let model: String

    init(id: String, created: Int, model: String) {
        self.id = id
        self.created = created
        self.model = model
    }

    /// A new answer's: a random id after `prefix`, created now.
    init(prefix: String, model: String) {
        self.init(id: prefix + Self.randomID(), created: Int(Date().timeIntervalSince1970), model: model)
    }

    static func randomID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return String((0..<24).map { _ in alphabet.randomElement()! })
    }
}
