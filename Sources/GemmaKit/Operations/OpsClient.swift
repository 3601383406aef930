import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where a server is and how to talk to it: resolved once from flags and environment by the CLI.
public struct ServerEndpoint: Sendable {
    /// The base URL, without a trailing slash, e.g. `http://127.0.0.1:8000`.
    public var baseURL: String
    /// The API key sent as a Bearer token, if any. Never logged or printed.
    public var apiKey: String?
    /// Limit for each request.
    public var timeout: Duration
    /// Skip TLS certificate verification (only ever by explicit flag).
    public var insecure: Bool
    /// An HTTP proxy to go through, from the environment; nil for a direct connection.
    public var proxy: ProxySetting?

    public init(baseURL: String, apiKey: String? = nil, timeout: Duration = .seconds(10), insecure: Bool = false,
                proxy: ProxySetting? = nil) throws(OpsError) {
        var base = baseURL.trimmingCharacters(in: .whitespaces)
        while base.hasSuffix("/") { base.removeLast() }
        guard let components = URLComponents(string: base), let scheme = components.scheme?.lowercased(),
              ["http", "https"].contains(scheme), let host = components.host, !host.isEmpty else {
            throw OpsError(.invalidURL, "--url must be an http:// or https:// URL with a host, got '\(baseURL)'",
                           recovery: "for example --url http://127.0.0.1:8000 or --url https://llm.example.com")
        }
        self.baseURL = base
        self.apiKey = apiKey
        self.timeout = timeout
        self.insecure = insecure
        self.proxy = proxy
    }

    var host: String { URLComponents(string: baseURL)?.host ?? "" }
    var isHTTPS: Bool { baseURL.lowercased().hasPrefix("https://") }

    /// The same server with another key (or none).
    public func with(apiKey: String?) -> ServerEndpoint {
        var copy = self
        copy.apiKey = apiKey
        return copy
    }
}

/// An HTTP proxy taken from `HTTPS_PROXY`/`HTTP_PROXY`, honouring `NO_PROXY` and never used for loopback.
public struct ProxySetting: Sendable, Equatable {
    public var host: String
    public var port: Int

    /// The proxy the environment names for `url`, or nil when the request should go direct.
    public static func fromEnvironment(for url: String, environment: [String: String]) -> ProxySetting? {
        guard let components = URLComponents(string: url), let host = components.host?.lowercased() else { return nil }
        if ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host) || host.hasPrefix("127.") { return nil }
        func env(_ name: String) -> String? {
            Environment.value(name.lowercased(), in: environment) ?? Environment.value(name.uppercased(), in: environment)
        }
        if let noProxy = env("no_proxy") {
            for entry in noProxy.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !entry.isEmpty {
                if entry == "*" { return nil }
                let suffix = entry.hasPrefix(".") ? String(entry.dropFirst()) : entry
                if host == suffix || host.hasSuffix("." + suffix) { return nil }
            }
        }
        let scheme = components.scheme?.lowercased() ?? "http"
        guard let proxy = env(scheme == "https" ? "https_proxy" : "http_proxy"),
              let proxyURL = URLComponents(string: proxy.contains("://") ? proxy : "http://" + proxy),
              let proxyHost = proxyURL.host else { return nil }
        return ProxySetting(host: proxyHost, port: proxyURL.port ?? 3128)
    }
}

/// A response from the server, body read in full.
public struct OpsResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data
    /// From sending the request to the last byte of the body.
    public var latency: Duration

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as JSON, or nil when it is not JSON.
    public var json: Any? { try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) }

    /// The `error.message` of an OpenAI-style error body, or the start of the body text.
    public var errorMessage: String {
        if let object = json as? [String: Any] {
            if let error = object["error"] as? [String: Any], let message = error["message"] as? String { return message }
            if let message = object["error"] as? String { return message }
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "(empty body)" : text
    }
}

/// A chunk of a streamed response, with the time since the request was sent.
public struct StreamChunk: Sendable {
    public var bytes: Data
    public var elapsed: Duration
}

/// The HTTP client the operations commands share: AsyncHTTPClient, one base URL, one key.
public final class OpsClient: Sendable {
    public let endpoint: ServerEndpoint
    private let http: HTTPClient

    public init(endpoint: ServerEndpoint) {
        self.endpoint = endpoint
        var configuration = endpoint.insecure
            ? HTTPClient.Configuration(certificateVerification: .none)
            : HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .milliseconds(min(endpoint.timeout.wholeMilliseconds, 10_000)),
                                      read: .milliseconds(endpoint.timeout.wholeMilliseconds))
        if let proxy = endpoint.proxy { configuration.proxy = .server(host: proxy.host, port: proxy.port) }
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async { try? await http.shutdown() }

    /// Runs `body` with a client, shutting it down afterwards whatever happens.
    public static func with<T: Sendable>(_ endpoint: ServerEndpoint, _ body: (OpsClient) async throws -> T) async throws -> T {
        let client = OpsClient(endpoint: endpoint)
        do {
            let value = try await body(client)
            try? await client.http.shutdown()
            return value
        } catch {
            try? await client.http.shutdown()
            throw error
        }
    }

    private func request(_ method: HTTPMethod, _ path: String, apiKey: String??, body: Data?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: endpoint.baseURL + path)
        request.method = method
        request.headers.add(name: "User-Agent", value: "gemmactl/\(GemmactlVersion.current)")
        request.headers.add(name: "Accept", value: "application/json")
        let key: String? = apiKey ?? endpoint.apiKey
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return request
    }

    /// GET `path`; `apiKey` overrides the endpoint's key (`.some(nil)` sends none).
    public func get(_ path: String, apiKey: String?? = nil) async throws(OpsError) -> OpsResponse {
        try await send(request(.GET, path, apiKey: apiKey, body: nil), path: path)
    }

    public func post(_ path: String, json: Data, apiKey: String?? = nil) async throws(OpsError) -> OpsResponse {
        try await send(request(.POST, path, apiKey: apiKey, body: json), path: path)
    }

    private func send(_ request: HTTPClientRequest, path: String) async throws(OpsError) -> OpsResponse {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let response = try await http.execute(request, timeout: .milliseconds(endpoint.timeout.wholeMilliseconds))
            let buffer = try await response.body.collect(upTo: 16 << 20)
            let data = Data(buffer.readableBytesView)
            return OpsResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                               body: data, latency: clock.now - start)
        } catch {
            throw classify(error, path: path)
        }
    }

    /// POSTs `json` and hands each body chunk to `onChunk` as it arrives; returns the status and headers.
    public func stream(_ path: String, json: Data, onChunk: (StreamChunk) throws -> Void) async throws(OpsError) -> OpsResponse {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let response = try await http.execute(request(.POST, path, apiKey: nil, body: json),
                                                  timeout: .milliseconds(endpoint.timeout.wholeMilliseconds))
            var all = Data()
            for try await buffer in response.body {
                let bytes = Data(buffer.readableBytesView)
                all.append(bytes)
                try onChunk(StreamChunk(bytes: bytes, elapsed: clock.now - start))
            }
            return OpsResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                               body: all, latency: clock.now - start)
        } catch let error as OpsError {
            throw error
        } catch {
            throw classify(error, path: path)
        }
    }

    private func classify(_ error: any Error, path: String) -> OpsError {
        let url = endpoint.baseURL + path
        if let error = error as? HTTPClientError, [.readTimeout, .deadlineExceeded, .connectTimeout].contains(error) {
            return OpsError(.timedOut, "no answer from \(url) within \(DurationText.format(endpoint.timeout))",
                            recovery: "the server may be overloaded or a gateway may be holding the request; raise --timeout or check the server's logs")
        }
        let detail = String(describing: error)
        return OpsError(.unreachable, "cannot reach \(url): \(detail)",
                        recovery: "check that the server is running and --url (or GEMMA_URL) points at it; for a pod, try `kubectl port-forward svc/NAME 8000:8000`")
    }
}

/// Reads a number from lenient JSON: ints, doubles or numeric strings.
func jsonInt(_ value: Any?) -> Int? {
    switch value {
    case let int as Int: return int
    case let double as Double: return double.isFinite ? Int(double) : nil
    case let string as String: return Int(string)
    default: return nil
    }
}

func jsonBool(_ value: Any?) -> Bool? {
    switch value {
    case let bool as Bool: return bool
    case let int as Int: return int != 0
    default: return nil
    }
}

extension OpsClient {
    /// `with`, keeping the body's typed error.
    static func withTyped<T: Sendable, E: Error>(_ endpoint: ServerEndpoint, _ body: (OpsClient) async throws(E) -> T) async throws(E) -> T {
        let client = OpsClient(endpoint: endpoint)
        let result: Result<T, E>
        do { result = .success(try await body(client)) } catch { result = .failure(error) }
        await client.shutdown()
        return try result.get()
    }
}
