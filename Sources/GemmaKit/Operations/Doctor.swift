import Foundation

/// One line of `gemmactl doctor`: what was checked, what was found, and what to do.
public struct DoctorFinding: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case pass, fail, skip }

    public var check: String
    public var status: Status
    public var finding: String
    public var fix: String?
    /// Commands to look further.
    public var commands: [String]

    public init(_ check: String, _ status: Status, _ finding: String, fix: String? = nil, commands: [String] = []) {
        self.check = check; self.status = status; self.finding = finding; self.fix = fix; self.commands = commands
    }
}

/// All findings, and how to show them.
public struct DoctorReport: Sendable, Codable, Equatable {
    public var findings: [DoctorFinding]

    public var passed: Bool { !findings.contains { $0.status == .fail } }
    public var exitCode: Int32 { passed ? 0 : 1 }

    public var text: String {
        let width = (findings.map(\.check.count).max() ?? 0)
        var lines: [String] = []
        for finding in findings {
            let tag = finding.status.rawValue.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0)
            lines.append("\(tag)  \(finding.check.padding(toLength: width, withPad: " ", startingAt: 0))  \(finding.finding)")
            let indent = String(repeating: " ", count: width + 8)
            if let fix = finding.fix { lines.append("\(indent)fix: \(fix)") }
            for command in finding.commands { lines.append("\(indent)  $ \(command)") }
        }
        let failed = findings.filter { $0.status == .fail }.count
        lines.append(failed == 0 ? "all checks passed" : "\(failed) check\(failed == 1 ? "" : "s") failed")
        return lines.joined(separator: "\n")
    }

    public var json: String {
        struct Document: Encodable { var ok: Bool; var findings: [DoctorFinding] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(Document(ok: passed, findings: findings))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// `gemmactl doctor`: the troubleshooting checklist, one finding per check.
public struct Doctor: Sendable {
    public struct Options: Sendable {
        public var endpoint: ServerEndpoint
        /// A gateway URL to send the stream check through (defaults to `endpoint`).
        public var gateway: ServerEndpoint?
        public var memoryLimit: UInt64?
        /// The GGUF the server runs; nil: the default model in `modelCache`.
        public var modelPath: String?
        public var modelCache = HubCache.resolve(environment: [:])
        /// The server's `--ctx-size` and `--parallel` (their defaults unless told).
        public var contextSize = ServeSettings.contextSize.defaultValue
        public var parallel = ServeSettings.parallel.defaultValue
        public var namespace: String?
        public var selector: String?
        public var streamCheck = false
        /// Time between the two reads of `/slots`.
        public var stuckInterval: Duration = .seconds(2)

        public init(endpoint: ServerEndpoint) { self.endpoint = endpoint }
    }

    public let options: Options
    public let runner: any CommandRunner
    public let estimator: any MemoryEstimating

    public init(options: Options, runner: any CommandRunner = ProcessRunner(), estimator: any MemoryEstimating = PlannerMemoryEstimator()) {
        self.options = options
        self.runner = runner
        self.estimator = estimator
    }

    public func run() async -> DoctorReport {
        var findings: [DoctorFinding] = []
        await OpsClient.withTyped(options.endpoint) { (client: OpsClient) async in
            findings += await serverChecks(client)
        }
        findings.append(memoryCheck())
        if options.namespace != nil || options.selector != nil {
            findings += await KubernetesChecks(namespace: options.namespace, selector: options.selector, runner: runner).run()
        }
        return DoctorReport(findings: findings)
    }

    // MARK: server

    func serverChecks(_ client: OpsClient) async -> [DoctorFinding] {
        let url = client.endpoint.baseURL
        var findings: [DoctorFinding] = []
        let health: OpsResponse
        do {
            health = try await client.get("/health", apiKey: .some(nil))
        } catch {
            findings.append(DoctorFinding("reachable", .fail, error.message, fix: error.recovery,
                                          commands: ["curl -sv \(url)/health"]))
            for check in ["health", "api key", "slots"] + (options.streamCheck ? ["stream"] : []) {
                findings.append(DoctorFinding(check, .skip, "the server is not reachable"))
            }
            return findings
        }
        findings.append(DoctorFinding("reachable", .pass, "\(url) answered in \(health.latency.wholeMilliseconds) ms"))
        var ollama = false
        switch health.status {
        case 200:
            findings.append(DoctorFinding("health", .pass, "/health: ready"))
        case 503:
            findings.append(DoctorFinding("health", .fail, "/health answered 503: \(health.errorMessage)",
                                          fix: "a loading model answers 503 until it is ready; if it stays so, read the logs",
                                          commands: ["gemmactl health --url \(url) --wait --timeout 5m", "kubectl logs deploy/NAME --tail=100  # statefulset/NAME with storage.perPod"]))
        case 404:
            if let version = try? await client.get("/api/version"), version.status == 200,
               (version.json as? [String: Any])?["version"] is String {
                ollama = true
                findings.append(DoctorFinding("health", .pass, "Ollama \(((version.json as? [String: Any])?["version"] as? String) ?? "") answers /api/version"))
            } else {
                findings.append(DoctorFinding("health", .fail, "/health answered 404: not a llama.cpp or Ollama server",
                                              fix: "point --url at gemmactl serve, llama-server or Ollama (no path)"))
            }
        default:
            findings.append(DoctorFinding("health", .fail, "/health answered \(health.status): \(health.errorMessage)",
                                          fix: "a 502/504 comes from a gateway that cannot reach the pod; otherwise read the server's logs"))
        }
        let modelsPath = ollama ? "/api/tags" : "/v1/models"
        var keyOK = false
        var modelID: String?
        do {
            let models = try await client.get(modelsPath)
            switch models.status {
            case 200:
                keyOK = true
                modelID = HealthCheck.modelIDs(models.json).first
                findings.append(DoctorFinding("api key", .pass, client.endpoint.apiKey == nil
                    ? "\(modelsPath) answered without a key (the server needs none)"
                    : "\(modelsPath) accepted the key"))
            case 401, 403:
                findings.append(DoctorFinding("api key", .fail, "\(modelsPath) answered \(models.status): \(models.errorMessage)",
                                              fix: client.endpoint.apiKey == nil
                                                  ? "pass --api-key-file PATH or set GEMMA_API_KEY"
                                                  : "the key is not among the server's keys: check the keys file / Secret (gemmactl rotate-key may have replaced it)"))
            default:
                findings.append(DoctorFinding("api key", .fail, "\(modelsPath) answered \(models.status): \(models.errorMessage)",
                                              fix: "read the server's logs"))
            }
        } catch {
            findings.append(DoctorFinding("api key", .fail, error.message, fix: error.recovery))
        }
        findings.append(ollama ? DoctorFinding("slots", .skip, "Ollama has no /slots")
                               : await slotsCheck(client, keyOK: keyOK))
        if !ollama && keyOK { findings.append(await cpuLevelCheck(client)) }
        if options.streamCheck {
            if ollama || !keyOK {
                findings.append(DoctorFinding("stream", .skip, ollama ? "the stream check speaks the OpenAI API only" : "the key was not accepted"))
            } else {
                let gateway = options.gateway ?? client.endpoint
                let finding = await OpsClient.withTyped(gateway) { (gatewayClient: OpsClient) async in
                    await StreamCheck(client: gatewayClient, model: modelID).run()
                }
                findings.append(finding)
            }
        }
        return findings
    }

    /// Which CPU kernels the server runs (gemmactl's `cpu_level` in /props); informative, it never fails.
    func cpuLevelCheck(_ client: OpsClient) async -> DoctorFinding {
        guard let props = try? await client.get("/props"), props.status == 200,
              let level = (props.json as? [String: Any])?["cpu_level"] as? String else {
            return DoctorFinding("cpu level", .skip, "/props names no cpu_level (not gemmactl serve, or an older one)")
        }
        return DoctorFinding("cpu level", .pass, "the server runs llama.cpp's \(level) CPU kernels")
    }

    func slotsCheck(_ client: OpsClient, keyOK: Bool) async -> DoctorFinding {
        guard keyOK else { return DoctorFinding("slots", .skip, "the key was not accepted") }
        func read() async -> Result<[SlotStatus], OpsError> {
            do {
                let response = try await client.get("/slots")
                guard response.status == 200 else {
                    return .failure(OpsError(.badResponse, "/slots answered \(response.status): \(response.errorMessage)"))
                }
                if case .slots(let slots) = try SlotsSnapshot.parseSlots(response.body) { return .success(slots) }
                return .success([])
            } catch {
                return .failure(error)
            }
        }
        guard case .success(let first) = await read() else {
            return DoctorFinding("slots", .skip, "/slots is not available (llama-server needs --slots)")
        }
        let busy = first.filter { $0.processing == true }
        if busy.isEmpty { return DoctorFinding("slots", .pass, "\(first.count) slots, none processing") }
        try? await Task.sleep(for: options.stuckInterval)
        guard case .success(let second) = await read() else {
            return DoctorFinding("slots", .skip, "/slots stopped answering between two reads")
        }
        let stuck = second.filter { slot in
            guard slot.processing == true, let before = busy.first(where: { $0.id == slot.id }) else { return false }
            return before.task == slot.task && before.generatedTokens == slot.generatedTokens && before.promptTokens == slot.promptTokens
        }
        if stuck.isEmpty {
            return DoctorFinding("slots", .pass, "\(second.count) slots, \(second.filter { $0.processing == true }.count) processing and making progress")
        }
        let ids = stuck.map { $0.id.map(String.init) ?? "?" }.joined(separator: ", ")
        return DoctorFinding("slots", .fail,
                             "slot\(stuck.count == 1 ? "" : "s") \(ids) processing with no progress in \(DurationText.format(options.stuckInterval)) (task \(stuck.map { $0.task.map(String.init) ?? "-" }.joined(separator: ", ")))",
                             fix: "a request may hang on a client that stopped reading or on a very long prompt; if it persists, restart the server",
                             commands: ["gemmactl slots --url \(client.endpoint.baseURL) --watch", "kubectl rollout restart deploy/NAME"])
    }

    // MARK: memory

    func memoryCheck() -> DoctorFinding {
        guard let limit = options.memoryLimit else {
            return DoctorFinding("memory", .skip, "no --memory-limit given (pass the pod's limits.memory, e.g. --memory-limit 4Gi)")
        }
        let path: String
        if let modelPath = options.modelPath {
            path = modelPath
        } else {
            do { path = try DefaultModel.path(in: options.modelCache) } catch {
                return DoctorFinding("memory", .skip, "no \(ServeSettings.model.flag) given and the default model is not cached", fix: "pass \(ServeSettings.model.flag) PATH to the GGUF the server runs")
            }
        }
        let estimate: MemoryEstimate
        do {
            estimate = try estimator.estimate(modelPath: path, contextSize: options.contextSize, parallel: options.parallel)
        } catch {
            return DoctorFinding("memory", .fail, "cannot estimate the memory for \(path): \(error)", fix: "pass \(ServeSettings.model.flag) PATH to a readable GGUF file")
        }
        let need = ByteSize.format(estimate.totalBytes)
        let breakdown = "weights \(ByteSize.format(estimate.weightsBytes)) + KV cache \(ByteSize.format(estimate.kvCacheBytes)) + buffers \(ByteSize.format(estimate.overheadBytes)); \(estimate.source)"
        if estimate.totalBytes > limit {
            return DoctorFinding("memory", .fail,
                                 "\(ServeSettings.contextSize.flag) \(options.contextSize) needs \(need), limit is \(ByteSize.format(limit)) (\(breakdown))",
                                 fix: "reduce \(ServeSettings.contextSize.flag) or use a smaller quantization, or raise the memory limit (an OOMKilled pod restarts in a loop)",
                                 commands: ["kubectl describe pod -l app.kubernetes.io/name=gemma | grep -A3 'Last State'"])
        }
        let share = Double(estimate.totalBytes) / Double(limit) * 100
        return DoctorFinding("memory", .pass, String(format: "%@ %d needs %@ of the %@ limit (%.0f%%; %@)",
                                                     ServeSettings.contextSize.flag, options.contextSize, need, ByteSize.format(limit), share, breakdown))
    }
}

/// `--stream-check`: one real streamed chat request, timed.
struct StreamCheck: Sendable {
    let client: OpsClient
    let model: String?

    func run() async -> DoctorFinding {
        var body: [String: Any] = ["messages": [["role": "user", "content": "Say hello in five words."]],
                                   "stream": true, "max_tokens": 24, "temperature": 0]
        if let model { body["model"] = model }
        let json = (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
        var firstByte: Duration?
        var previous: Duration?
        var largestGap: Duration = .zero
        var reads = 0
        let url = client.endpoint.baseURL
        do {
            let response = try await client.stream("/v1/chat/completions", json: json) { chunk in
                reads += 1
                if firstByte == nil { firstByte = chunk.elapsed }
                if let previous { largestGap = max(largestGap, chunk.elapsed - previous) }
                previous = chunk.elapsed
            }
            guard response.status == 200 else {
                return DoctorFinding("stream", .fail, "POST \(url)/v1/chat/completions answered \(response.status): \(response.errorMessage)",
                                     fix: "read the server's logs")
            }
            let text = String(decoding: response.body, as: UTF8.self)
            let events = text.components(separatedBy: "\n").filter { $0.hasPrefix("data:") }.count
            let timing = "first byte after \(DurationText.format(firstByte ?? .zero)), largest gap between chunks \(DurationText.format(largestGap)), \(events) events in \(reads) reads"
            guard text.contains("data: [DONE]") else {
                return DoctorFinding("stream", .fail, "the stream ended without data: [DONE] (\(timing))",
                                     fix: "something between client and server cuts streams: raise the gateway's idle/read timeout (e.g. nginx proxy_read_timeout, an OCI load balancer's idle timeout)")
            }
            var finding = "streamed: \(timing)"
            if reads == 1 && events > 3 {
                finding += "; every event arrived in one read, so a proxy may be buffering the stream (turn off proxy_buffering)"
            }
            return DoctorFinding("stream", .pass, finding)
        } catch {
            return DoctorFinding("stream", .fail, "the streamed request failed after \(reads) reads: \(error.message)",
                                 fix: error.code == .timedOut
                                     ? "a gateway may buffer the stream or the server is overloaded: raise --timeout, check proxy_buffering and idle timeouts"
                                     : error.recovery)
        }
    }
}
