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
        case .failed(let reason): throw APIError(.internalServerError, "the model failed to load: \(reason)")
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

    /// The whole generation, for non-streaming answers; bounded by --request-timeout.
    func collect(_ feed: GenerationFeed) async throws -> Collected {
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
            throw Self.apiError(error)
        }
    }

    static func apiError(_ error: any Error) -> APIError {
        switch error {
        case let api as APIError: api
        case let engine as EngineError: APIError.from(engine)
        default: APIError(.internalServerError, "\(error)")
        }
    }

    static func randomID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return String((0..<24).map { _ in alphabet.randomElement()! })
    }
}
