import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import HummingbirdTesting
@testable import GemmaKit

/// A real `GemmaServer` on the real model, run by HummingbirdTesting's live mode: a real listener
/// on an ephemeral port (port 0), torn down (HTTP server, then engine) before `with` returns.
struct TestServer: Sendable {
    /// Where the server listens, as the OS bound it.
    let address: SocketAddress
    let server: GemmaServer
    /// Where the --metrics-port listener bound, when the configuration asks for one.
    let metricsAddress: SocketAddress?
    static let client = HTTPClient(eventLoopGroupProvider: .singleton)

    var port: Int { address.port ?? 0 }
    var host: String { address.ipAddress ?? "127.0.0.1" }
    var base: String {
        if case .v6 = address { return "http://[\(host)]:\(port)" }
        return "http://\(host):\(port)"
    }

    /// Runs `body` against a fresh server, by default once its model has loaded.
    static func with(keys: [String] = ["test-key"], keyFile: String? = nil, slots: Int = 2, contextSize: Int = 4096,
                     configure: (inout ServerConfiguration) -> Void = { _ in },
                     beforeLoad: (@Sendable () async -> Void)? = nil, waitUntilReady: Bool = true,
                     _ body: @Sendable (TestServer) async throws -> Void) async throws {
        var configuration = ServerConfiguration(modelPath: TestModel.path)
        configuration.port = 0
        configuration.apiKeys = keys
        configuration.apiKeyFile = keyFile
        configuration.engine = EngineOptions(context: ContextOptions(contextSize: contextSize, sequences: slots))
        configuration.engine.embeddingContextSize = 512
        configuration.keyFilePollInterval = .milliseconds(50)
        configure(&configuration)
        let server = try GemmaServer(configuration: configuration)
        let (addresses, bound) = AsyncStream<SocketAddress>.makeStream()
        let (metricsAddresses, metricsBound) = AsyncStream<SocketAddress>.makeStream()
        let servesMetrics = configuration.metricsPort != nil
        let app = server.buildApplication(beforeLoad: beforeLoad, onMetricsListening: { address in
            metricsBound.yield(address)
            metricsBound.finish()
        }) { address in
            bound.yield(address)
            bound.finish()
        }
        try await app.test(.live) { _ in
            var iterator = addresses.makeAsyncIterator()
            guard let address = await iterator.next() else { throw ServeError("the test server did not start") }
            var metricsAddress: SocketAddress?
            if servesMetrics {
                var metricsIterator = metricsAddresses.makeAsyncIterator()
                metricsAddress = await metricsIterator.next()
                guard metricsAddress != nil else { throw ServeError("the test server's metrics listener did not start") }
            }
            let instance = TestServer(address: address, server: server, metricsAddress: metricsAddress)
            if waitUntilReady { try await instance.waitUntilHealthy() }
            try await body(instance)
        }
    }

    /// Polls /health until the model has loaded (a minute at most).
    private func waitUntilHealthy() async throws {
        for _ in 0..<1200 {
            if try await get("/health").status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ServeError("the test server's model did not load within a minute")
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
