import Foundation
import Hummingbird
import Logging
import NIOCore

/// What every handler shares: settings, the model host, keys and metrics, plus the plumbing to run
/// a generation and answer with it.
public final class ServerCore: Sendable {
    public let configuration: ServerConfiguration
    public let host: ModelHost
    public let keys: APIKeyStore
    public let metrics: ServerMetrics
    public let startedAt = Date()
    let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "gemmactl.serve")) throws(ServeError) {
        self.configuration = configuration
        host = ModelHost(modelID: configuration.modelID)
        keys = configuration.noAuth ? try APIKeyStore(keys: [], file: nil)
                                    : try APIKeyStore(keys: configuration.apiKeys, file: configuration.apiKeyFile)
        metrics = ServerMetrics()
        self.logger = logger
    }

    var modelID: String { configuration.modelID }

    /// The loaded model, or 503 while it loads (500 if it failed).
    func requireModel() throws -> ModelHost.Loaded {
        switch host.current {
        case .ready(let loaded): return loaded
        case .loading: throw APIError.loading
        case .failed: throw APIError.modelFailed
        }
    }

    /// Submits a generation; engine refusals become API errors (400, 503 + Retry-After).
    /// `streamed` says whether its text goes out as it comes (see `GenerationFeed`).
    func start(_ request: GenerationRequest, engine: InferenceEngine, streamed: Bool) throws -> GenerationFeed {
        do {
            return try GenerationFeed(request, engine: engine, streamed: streamed)
        } catch {
            throw APIError.from(error)
        }
    }

    /// The chat's prompt text and tokens. A chat whose content alone has more bytes than a slot's
    /// context could hold is refused before any work; the rest is formatted and tokenized off
    /// Swift's cooperative pool, which has one thread per core and also answers /health.
    func prompt(chat messages: [ChatMessage], loaded: ModelHost.Loaded) async throws -> (text: String, tokens: [Token]) {
        try checkFits(bytes: messages.reduce(0) { $0 + $1.content.utf8.count }, loaded: loaded)
        return await Self.offCooperativePool {
            let prompt = loaded.formatter.prompt(messages)
            return (prompt.text, loaded.model.tokenize(prompt))
        }
    }

    /// The tokens of a prompt given as text (BOS added), refused early as `prompt(chat:)` is.
    func prompt(text: String, parseSpecial: Bool, loaded: ModelHost.Loaded) async throws -> [Token] {
        try checkFits(bytes: text.utf8.count, loaded: loaded)
        return await Self.offCooperativePool { loaded.model.tokenize(text, addSpecial: true, parseSpecial: parseSpecial) }
    }

    /// 400 for text that is sure to take more tokens than a slot holds: no token stands for more
    /// than `maxTokenBytes` bytes, so no prompt that could fit is refused.
    private func checkFits(bytes: Int, loaded: ModelHost.Loaded) throws {
        let slot = loaded.engine.slotContextSize
        let most = slot * loaded.model.maxTokenBytes
        guard bytes <= most else {
            throw APIError.badRequest("the prompt is \(bytes) bytes, more than a slot's context of \(slot) tokens can hold "
                + "(at most \(most) bytes); shorten the prompt, or start the server with a larger --ctx-size or fewer --parallel slots")
        }
    }

    private static let tokenizing = DispatchQueue(label: "gemmactl.tokenize", qos: .userInitiated, attributes: .concurrent)

    /// Runs `work` on a dispatch queue and waits for it without holding a cooperative thread.
    static func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            tokenizing.async { continuation.resume(returning: work()) }
        }
    }

    func logPrompt(_ prompt: String, context: some RequestContext) {
        guard configuration.logPrompts else { return }
        context.logger.info("prompt", metadata: ["prompt": "\(prompt)"])
    }

    private var deadline: ContinuousClock.Instant? { configuration.requestTimeout.map { .now + $0 } }

    /// A Server-Sent Events response; each event becomes `data:` lines, `: ping` keeps it alive.
    /// `eventLoop` is the connection's: the stream is written from there.
    func sse(_ feed: GenerationFeed, on eventLoop: any EventLoop,
             encode: @escaping @Sendable (GenerationEvent) -> [String]) -> Response {
        let streamer = GenerationStreamer(feed: feed, pingInterval: configuration.ssePingInterval, ping: ": ping\n\n", deadline: deadline)
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", .xAccelBuffering: "no"]
        return Response(status: .ok, headers: headers, body: Self.streamedBody(on: eventLoop) { writer in
            try await streamer.run(writer: &writer, encode: encode) { error in
                let api = Self.apiError(error)
                return ["data: " + JSONBody.string(["error": ["message": api.message, "type": api.type, "code": "\(api.status.code)"]]) + "\n\n"]
            }
        })
    }

    /// A newline-delimited JSON response (Ollama's streaming format).
    func ndjson(_ feed: GenerationFeed, on eventLoop: any EventLoop,
                encode: @escaping @Sendable (GenerationEvent) -> [String]) -> Response {
        let streamer = GenerationStreamer(feed: feed, pingInterval: configuration.ssePingInterval, ping: nil, deadline: deadline)
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-cache", .xAccelBuffering: "no"],
                        body: Self.streamedBody(on: eventLoop) { writer in
            try await streamer.run(writer: &writer, encode: encode) { error in
                [JSONBody.string(["error": Self.apiError(error).message]) + "\n"]
            }
        })
    }

    /// A body written by `write` on `eventLoop` (see `EventLoopTaskExecutor`), then finished.
    private static func streamedBody(on eventLoop: any EventLoop,
                                     _ write: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void) -> ResponseBody {
        ResponseBody { writer in
            try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop)) {
                try await write(&writer)
                try await writer.finish(nil)
            }
        }
    }

    struct Collected {
        var text = ""
        var logprobs: [TokenLogprob] = []
        var stats: GenerationStats
    }

    /// The whole generation, for non-streaming answers; bounded by --request-timeout. A client
    /// that goes away meanwhile (see `ConnectionWatcher`) cancels it at once, freeing its slot.
    func collect(_ feed: GenerationFeed, context: ServeRequestContext) async throws -> Collected {
        let connection = await context.connectionWatcher()
        let registration = connection?.onGone { feed.cancel() }
        defer { registration?.cancel() }
        let work: @Sendable () async throws -> Collected = {
            var text = "", logprobs: [TokenLogprob] = []
            for await item in feed.items {
                switch item {
                case .event(.started), .tick, .end: break
                case .event(.text(let piece, let pieceLogprobs)):
                    text += piece
                    logprobs += pieceLogprobs
                case .event(.finished(let stats)): return Collected(text: text, logprobs: logprobs, stats: stats)
                case .failed(let error): throw error
                }
            }
            try Task.checkCancellation()
            throw APIError(.internalServerError, "the generation ended without a result")
        }
        do {
            guard let timeout = configuration.requestTimeout else { return try await work() }
            return try await withThrowingTaskGroup(of: Collected?.self) { group in
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
            throw Self.apiError(error)
        }
    }

    static func apiError(_ error: any Error) -> APIError {
        switch error {
        case let api as APIError: api
        case let engine as EngineError: APIError.from(engine)
        default: APIError.internal
        }
    }

    static func randomID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return String((0..<24).map { _ in alphabet.randomElement()! })
    }
}
