import Foundation

/// What kind of server answered.
public enum ServerFlavor: String, Sendable, Codable {
    /// `gemmactl serve` or llama-server: `/health`, `/v1/models`, `/slots`.
    case llama
    /// Ollama: `/api/version`, `/api/tags`, `/api/ps`.
    case ollama
}

/// The outcome of `gemmactl health`, with the exit code scripts branch on.
public struct HealthReport: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case ready, loading, unhealthy, unreachable, keyRejected = "key-rejected"

        /// 0 ready, 1 loading or unhealthy, 2 unreachable, 3 key rejected.
        public var exitCode: Int32 {
            switch self {
            case .ready: 0
            case .loading, .unhealthy: 1
            case .unreachable: 2
            case .keyRejected: 3
            }
        }
    }

    public var status: Status
    public var url: String
    public var flavor: ServerFlavor?
    public var models: [String]
    /// Each model's state (`unloaded`, `loading`, `loaded`) when the server serves several (its router status).
    public var modelStates: [String: String]? = nil
    /// Milliseconds for the health request.
    public var latencyMs: Int64?
    /// Whether the server required a key (nil when not checked).
    public var authRequired: Bool?
    public var version: String?
    public var detail: String
    public var recovery: String?

    public var exitCode: Int32 { status.exitCode }

    enum CodingKeys: String, CodingKey {
        case status, url, flavor, models, modelStates = "model_states", latencyMs = "latency_ms", authRequired = "auth_required", version, detail, recovery
    }

    /// The lines `gemmactl health` prints.
    public var text: String {
        var lines = ["status:  \(status.rawValue)", "server:  \(url)\(flavor.map { " (\($0 == .ollama ? "Ollama" : "llama.cpp API"))" } ?? "")"]
        if let version { lines.append("version: \(version)") }
        if !models.isEmpty {
            let named = models.map { id in modelStates?[id].map { "\(id) (\($0))" } ?? id }
            lines.append("model:   \(named.joined(separator: ", "))")
        }
        if let latencyMs { lines.append("latency: \(latencyMs) ms") }
        if let authRequired { lines.append("auth:    \(authRequired ? "key accepted" : "no key required")") }
        if !detail.isEmpty { lines.append("detail:  \(detail)") }
        if let recovery { lines.append("hint:    \(recovery)") }
        return lines.joined(separator: "\n")
    }
}

/// Checks a server: `/health` (or Ollama's `/api/version`), then an authenticated cheap call.
public struct HealthCheck: Sendable {
    public let client: OpsClient

    public init(client: OpsClient) { self.client = client }

    public func run() async -> HealthReport {
        let url = client.endpoint.baseURL
        var report = HealthReport(status: .unhealthy, url: url, flavor: nil, models: [], latencyMs: nil,
                                  authRequired: nil, version: nil, detail: "", recovery: nil)
        let health: OpsResponse
        do {
            health = try await client.get("/health", apiKey: .some(nil))
        } catch {
            report.status = .unreachable
            report.detail = error.message
            report.recovery = error.recovery
            return report
        }
        report.latencyMs = health.latency.wholeMilliseconds
        switch health.status {
        case 200:
            report.flavor = .llama
            return await checkKey(report, modelsPath: "/v1/models")
        case 503:
            let message = health.errorMessage
            report.flavor = .llama
            if message.lowercased().contains("loading") {
                report.status = .loading
                report.detail = "the server is up and still loading the model (\(message))"
                report.recovery = "wait for it: gemmactl health --wait --timeout 5m"
            } else {
                report.status = .unhealthy
                report.detail = "/health answered 503: \(message)"
                report.recovery = "read the server's logs (kubectl logs … or the terminal running gemmactl serve)"
            }
            return report
        case 401, 403:
            report.status = .keyRejected
            report.detail = "/health answered \(health.status): a gateway in front of the server requires a key"
            report.recovery = keyHint
            return report
        case 404:
            // Not llama.cpp's API: try Ollama.
            if let version = try? await client.get("/api/version"), version.status == 200,
               let object = version.json as? [String: Any], let number = object["version"] as? String {
                report.flavor = .ollama
                report.version = number
                report.latencyMs = version.latency.wholeMilliseconds
                return await checkKey(report, modelsPath: "/api/tags")
            }
            report.detail = "\(url)/health answered 404 and /api/version is not Ollama's: this is not a llama.cpp or Ollama server"
            report.recovery = "check --url: it should point at gemmactl serve, llama-server or Ollama (no path)"
            return report
        default:
            report.detail = "/health answered \(health.status): \(health.errorMessage)"
            report.recovery = "read the server's logs; a 502/504 comes from a gateway that cannot reach the pod"
            return report
        }
    }

    private var keyHint: String {
        client.endpoint.apiKey == nil
            ? "the server requires an API key: pass --api-key-file PATH or set GEMMA_API_KEY"
            : "the key was refused: check --api-key-file / GEMMA_API_KEY against the server's keys (gemmactl rotate-key may have replaced it)"
    }

    private func checkKey(_ start: HealthReport, modelsPath: String) async -> HealthReport {
        var report = start
        let models: OpsResponse
        do {
            models = try await client.get(modelsPath)
        } catch {
            report.status = .unhealthy
            report.detail = "/health answered but \(modelsPath) did not: \(error.message)"
            report.recovery = error.recovery
            return report
        }
        switch models.status {
        case 200:
            report.status = .ready
            report.authRequired = client.endpoint.apiKey == nil ? false : nil
            if client.endpoint.apiKey != nil {
                // Whether a key is needed at all: ask once without one.
                if let anonymous = try? await client.get(modelsPath, apiKey: .some(nil)) {
                    report.authRequired = anonymous.status == 401 || anonymous.status == 403
                }
            }
            report.models = Self.modelIDs(models.json)
            report.modelStates = Self.modelStates(models.json)
        case 401, 403:
            report.status = .keyRejected
            report.detail = "\(modelsPath) answered \(models.status): \(models.errorMessage)"
            report.recovery = keyHint
        default:
            report.status = .unhealthy
            report.detail = "\(modelsPath) answered \(models.status): \(models.errorMessage)"
            report.recovery = "read the server's logs"
        }
        return report
    }

    /// Model ids from `/v1/models` (`data[].id`) or Ollama's `/api/tags` (`models[].name`).
    static func modelIDs(_ json: Any?) -> [String] {
        guard let object = json as? [String: Any] else { return [] }
        if let data = object["data"] as? [[String: Any]] { return data.compactMap { $0["id"] as? String } }
        if let models = object["models"] as? [[String: Any]] { return models.compactMap { ($0["name"] ?? $0["model"]) as? String } }
        return []
    }

    /// Each model's router status from `/v1/models` (`data[].status.value`), nil when none has one (one model).
    static func modelStates(_ json: Any?) -> [String: String]? {
        let data = (json as? [String: Any])?["data"] as? [[String: Any]] ?? []
        let states = data.reduce(into: [String: String]()) { states, entry in
            if let id = entry["id"] as? String, let value = (entry["status"] as? [String: Any])?["value"] as? String { states[id] = value }
        }
        return states.isEmpty ? nil : states
    }

    /// Polls until the server is ready, the key is rejected, or `timeout` passes; returns the last report.
    /// `onPoll` sees each report that is not final (for progress lines).
    public func wait(timeout: Duration, interval: Duration = .seconds(1),
                     onPoll: (HealthReport) -> Void = { _ in }) async -> HealthReport {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            var report = await run()
            if report.status == .ready || report.status == .keyRejected { return report }
            if clock.now + interval >= deadline || Task.isCancelled {
                report.detail += (report.detail.isEmpty ? "" : "; ") + "still \(report.status.rawValue) after waiting \(DurationText.format(timeout))"
                return report
            }
            onPoll(report)
            try? await Task.sleep(for: interval)
        }
    }
}
