import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
@testable import GemmaKit

/// A real `GemmaServer` on 127.0.0.1 with an ephemeral port, on the real model.
final class TestServer: @unchecked Sendable {
    let port: Int
    let server: GemmaServer
    private let task: Task<Void, any Error>
    static let client = HTTPClient(eventLoopGroupProvider: .singleton)

    var base: String { "http://127.0.0.1:\(port)" }

    static func start(keys: [String] = ["test-key"], keyFile: String? = nil, slots: Int = 2, contextSize: Int = 4096,
                      configure: (inout ServerConfiguration) -> Void = { _ in },
                      beforeLoad: (@Sendable () async -> Void)? = nil, waitUntilReady: Bool = true) async throws -> TestServer {
        var configuration = ServerConfiguration(modelPath: TestModel.path)
        configuration.port = 0
        configuration.apiKeys = keys
        configuration.apiKeyFile = keyFile
        configuration.engine = EngineOptions(context: ContextOptions(contextSize: contextSize, sequences: slots))
        configuration.embeddingContextSize = 512
        configuration.keyFilePollInterval = .milliseconds(50)
        configure(&configuration)
        let server = try GemmaServer(configuration: configuration)
        let (portStream, portSink) = AsyncStream<Int>.makeStream()
        let task = Task {
            try await server.run(signals: [], beforeLoad: beforeLoad) { port in portSink.yield(port); portSink.finish() }
        }
        var iterator = portStream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ServeError("the test server did not start") }
        let instance = TestServer(port: port, server: server, task: task)
        if waitUntilReady {
            for _ in 0..<600 {
                if try await instance.get("/health").status == 200 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        return instance
    }

    private init(port: Int, server: GemmaServer, task: Task<Void, any Error>) {
        self.port = port
        self.server = server
        self.task = task
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var errorMessage: String { (object["error"] as? [String: Any])?["message"] as? String ?? "" }
    }

    func request(_ method: HTTPMethod, _ path: String, body: String? = nil, key: String? = "test-key",
                 headers extra: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await Self.client.execute(request, timeout: .seconds(120))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    func get(_ path: String, key: String? = "test-key") async throws -> Reply { try await request(.GET, path, key: key) }
    func post(_ path: String, _ json: [String: Any], key: String? = "test-key") async throws -> Reply {
        let data = try JSONSerialization.data(withJSONObject: json)
        return try await request(.POST, path, body: String(decoding: data, as: UTF8.self), key: key)
    }
}
