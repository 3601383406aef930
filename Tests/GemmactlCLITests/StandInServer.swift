import Foundation
@testable import GemmaKit
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// A stand-in for llama-server's and Ollama's HTTP API on 127.0.0.1, port 0: the JSON shapes the
/// operations commands read, with behaviour a test can steer (loading, keys, slots).
final class StandInServer: Sendable {
    enum Flavor: Sendable { case llama, ollama }

    struct State: Sendable {
        /// /health answers 503 "Loading model" this many more times, then 200.
        var loadingPolls = 0
        /// Keys accepted; empty means no auth. Ignored when `keysFile` is set.
        var keys: Set<String> = []
        /// A keys file re-read on every request, as gemmactl serve re-reads its file when it changes.
        var keysFile: String?
        var slots: String = StandInServer.idleSlots
        var healthPolls = 0
        var requests = 0
    }

    let flavor: Flavor
    let state: Mutex<State>

    init(flavor: Flavor = .llama, state: State = State()) {
        self.flavor = flavor
        self.state = Mutex(state)
    }

    static let idleSlots = """
        [{"id":0,"id_task":-1,"n_ctx":2048,"speculative":false,"is_processing":false,"params":{"n_predict":-1},"next_token":{"has_next_token":true,"n_remain":-1,"n_decoded":0}},
         {"id":1,"id_task":-1,"n_ctx":2048,"speculative":false,"is_processing":false,"params":{"n_predict":-1},"next_token":{"has_next_token":true,"n_remain":-1,"n_decoded":0}}]
        """

    /// One slot busy (task 57, 12 prompt tokens, 8 cached, 33 decoded) and one idle; the same on every read.
    static let busySlots = """
        [{"id":0,"id_task":57,"n_ctx":4096,"is_processing":true,"n_prompt_tokens":12,"n_cached_tokens":8,"params":{"temperature":0.8},"next_token":{"n_decoded":33}},
         {"id":1,"id_task":-1,"n_ctx":4096,"is_processing":false,"params":{}}]
        """

    func authorized(_ request: Request) -> Bool {
        // With a keys file every request needs a key from it, so a truncated or empty file fails requests.
        let (keys, required): (Set<String>, Bool) = state.withLock { state in
            if let path = state.keysFile {
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                return (Set(text.utf8.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
                    .filter { !$0.isEmpty && !$0.hasPrefix("#") }), true)
            }
            return (state.keys, !state.keys.isEmpty)
        }
        if !required { return true }
        var presented = request.headers[.init("x-api-key")!]
        if let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer ") {
            presented = String(authorization.dropFirst("Bearer ".count))
        }
        return presented.map(keys.contains) ?? false
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let unauthorized = json(#"{"error":{"message":"Invalid API Key","type":"authentication_error","code":401}}"#,
                                   status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"])

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(CountingMiddleware(server: self))
        switch flavor {
        case .llama:
            router.get("health") { _, _ -> Response in
                let loading = self.state.withLock { state -> Bool in
                    state.healthPolls += 1
                    guard state.loadingPolls > 0 else { return false }
                    state.loadingPolls -= 1
                    return true
                }
                if loading {
                    return Self.json(#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#, status: .serviceUnavailable)
                }
                return Self.json(#"{"status":"ok"}"#)
            }
            router.get("v1/models") { request, _ -> Response in
                guard self.authorized(request) else { return Self.unauthorized }
                return Self.json(#"{"object":"list","data":[{"id":"gemma-3-270m-q4_k_m","object":"model","created":1,"owned_by":"llamacpp"}]}"#)
            }
            router.get("slots") { request, _ -> Response in
                guard self.authorized(request) else { return Self.unauthorized }
                return Self.json(self.state.withLock { $0.slots })
            }
            router.post("v1/chat/completions") { request, _ -> Response in
                guard self.authorized(request) else { return Self.unauthorized }
                let words = ["Hello", " there", ",", " friend", "!"]
                return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                                body: ResponseBody { writer in
                    for (index, word) in words.enumerated() {
                        let delta = index == 0 ? #"{"role":"assistant","content":"\#(word)"}"# : #"{"content":"\#(word)"}"#
                        try await writer.write(ByteBuffer(string: "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":\(delta)}]}\n\n"))
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    try await writer.finish(nil)
                })
            }
        case .ollama:
            router.get("/") { _, _ in "Ollama is running" }
            router.get("api/version") { _, _ in Self.json(#"{"version":"0.6.5"}"#) }
            router.get("api/tags") { _, _ in
                Self.json(#"{"models":[{"name":"gemma3:270m","model":"gemma3:270m","size":291554930,"details":{"family":"gemma3"}}]}"#)
            }
            router.get("api/ps") { _, _ in
                Self.json(#"{"models":[{"name":"gemma3:270m","model":"gemma3:270m","size":536870912,"size_vram":0,"expires_at":"2025-06-01T12:00:00Z","context_length":4096,"details":{"family":"gemma3"}}]}"#)
            }
        }
        return router
    }

    static let logger: Logger = {
        var logger = Logger(label: "stand-in")
        logger.logLevel = .critical
        return logger
    }()

    /// Starts the server, runs `body` with its base URL, and stops it.
    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
                              logger: Self.logger)
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: app.logger))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            // Served from one of NIO's event loops, not Swift's cooperative pool: the pool has a
            // thread per core, and the synchronous tests that run beside this one (a child process
            // awaited with waitUntilExit, a model loading) can hold every one of them for seconds.
            // A server on the pool then accepts connections (NIO does that on its own threads) but
            // answers nothing until a thread frees up, and the command under test gives up with
            // "server not reachable". Every connection's task is a child of this one and inherits
            // the preference.
            group.addTask(executorPreference: EventLoopTaskExecutor(app.eventLoopGroup.next())) { try await services.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else { throw CancellationError() }
            do {
                let value = try await body("http://127.0.0.1:\(port)")
                await services.triggerGracefulShutdown()
                return value
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
        }
    }

    struct CountingMiddleware: RouterMiddleware {
        let server: StandInServer
        func handle(_ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
            server.state.withLock { $0.requests += 1 }
            return try await next(request, context)
        }
    }
}

/// A loopback port with nothing listening: bound, then closed.
func unusedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
