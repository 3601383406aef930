import Foundation

/// `gemmactl serve`'s settings as given, before defaults and the environment are applied.
/// Each field has an environment variable (GEMMA_*), and the fields llama-server shares also
/// read its LLAMA_ARG_* variables, so a Deployment's env carries over.
public struct ServeInputs: Sendable {
    public var model: String?
    public var hfRepo: String?
    public var hfFile: String?
    public var alias: String?
    public var contextSize: Int?
    public var parallel: Int?
    public var threads: Int?
    public var threadsBatch: Int?
    public var batchSize: Int?
    public var microBatchSize: Int?
    public var gpuLayers: Int?
    public var host: String?
    public var port: Int?
    public var apiKeyFile: String?
    public var noAuth: Bool = false
    public var maxBodySize: String?
    public var corsOrigins: String?
    public var maxQueue: Int?
    public var requestTimeout: String?
    public var shutdownGrace: String?
    public var ssePingInterval: String?
    public var metricsPort: Int?
    public var logPrompts: Bool = false
    public var deterministic: Bool = false
    public var cacheRam: Int?
    public var slotSavePath: String?
    public var offline: Bool = false

    public init() {}

    /// The environment variables read, for help texts and the README.
    public static let environmentNames: [String: [String]] = [
        "model": ["GEMMA_MODEL", "LLAMA_ARG_MODEL"], "hf-repo": ["GEMMA_HF_REPO", "LLAMA_ARG_HF_REPO"],
        "hf-file": ["GEMMA_HF_FILE", "LLAMA_ARG_HF_FILE"], "alias": ["GEMMA_ALIAS", "LLAMA_ARG_ALIAS"],
        "ctx-size": ["GEMMA_CTX_SIZE", "LLAMA_ARG_CTX_SIZE"], "parallel": ["GEMMA_PARALLEL", "LLAMA_ARG_N_PARALLEL"],
        "threads": ["GEMMA_THREADS", "LLAMA_ARG_THREADS"], "threads-batch": ["GEMMA_THREADS_BATCH", "LLAMA_ARG_THREADS_BATCH"],
        "batch-size": ["GEMMA_BATCH_SIZE", "LLAMA_ARG_BATCH"], "ubatch-size": ["GEMMA_UBATCH_SIZE", "LLAMA_ARG_UBATCH"],
        "n-gpu-layers": ["GEMMA_N_GPU_LAYERS", "LLAMA_ARG_N_GPU_LAYERS"],
        "host": ["GEMMA_HOST", "LLAMA_ARG_HOST"], "port": ["GEMMA_PORT", "LLAMA_ARG_PORT"],
        "api-key-file": ["GEMMA_API_KEY_FILE", "LLAMA_API_KEY_FILE"], "no-auth": ["GEMMA_NO_AUTH"],
        "max-body-size": ["GEMMA_MAX_BODY_SIZE"], "cors-origins": ["GEMMA_CORS_ORIGINS", "LLAMA_ARG_CORS_ORIGINS"], "max-queue": ["GEMMA_MAX_QUEUE"],
        "request-timeout": ["GEMMA_REQUEST_TIMEOUT"], "shutdown-grace": ["GEMMA_SHUTDOWN_GRACE"],
        "sse-ping-interval": ["GEMMA_SSE_PING_INTERVAL"], "metrics-port": ["GEMMA_METRICS_PORT"],
        "log-prompts": ["GEMMA_LOG_PROMPTS"], "deterministic": ["GEMMA_DETERMINISTIC"],
        "cache-ram": ["GEMMA_CACHE_RAM", "LLAMA_ARG_CACHE_RAM"],
        "slot-save-path": ["GEMMA_SLOT_SAVE_PATH", "LLAMA_ARG_SLOT_SAVE_PATH"],
        "offline": ["GEMMA_OFFLINE", "LLAMA_OFFLINE"],
    ]

    /// Applies the environment under the flags, then defaults, and checks every value.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment,
                        cache: HubCache? = nil) throws -> ServerConfiguration {
        func env(_ flag: String) -> (name: String, value: String)? {
            for name in Self.environmentNames[flag] ?? [] {
                if let value = Environment.value(name, in: environment) { return (name, value) }
            }
            return nil
        }
        func string(_ flag: String, _ value: String?) -> String? { value ?? env(flag)?.value }
        func int(_ flag: String, _ value: Int?) throws -> Int? {
            if let value { return value }
            guard let (name, text) = env(flag) else { return nil }
            guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw InputError("\(name) must be a whole number for --\(flag), got '\(text)'")
            }
            return number
        }
        func bool(_ flag: String, _ value: Bool) throws -> Bool {
            if value { return true }
            guard let (name, text) = env(flag) else { return false }
            switch text.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw InputError("\(name) must be true or false, got '\(text)'")
            }
        }
        func duration(_ flag: String, _ value: String?) throws -> Duration? {
            guard let text = string(flag, value) else { return nil }
            return try DurationText.parse(text, field: "--\(flag)")
        }

        let hubCache = cache ?? HubCache.resolve(environment: environment)
        var configuration: ServerConfiguration
        let modelFlag = string("model", model)
        let repo = string("hf-repo", hfRepo), file = string("hf-file", hfFile)
        // -m takes what `pull` takes: a path, ORG/REPO[:QUANT] or ollama://NAME:TAG.
        var named: ModelReference?
        if repo == nil, let modelFlag { named = try ModelReference.parse(modelFlag, preferRepository: true) }
        if file != nil, repo == nil { throw InputError("--hf-file needs --hf-repo naming the repository it is in") }
        if case .file(let path)? = named {
            guard FileManager.default.fileExists(atPath: path) else {
                let error = GGUFError(.notFound, path: path, "")
                throw InputError(error.message, recovery: error.recovery)
            }
            configuration = ServerConfiguration(modelPath: path)
        } else if modelFlag != nil || repo != nil {
            // A model from a registry: found in the cache or downloaded while the server starts.
            let reference = try named ?? ModelReference(model: modelFlag, hfRepo: repo, hfFile: file)
            configuration = ServerConfiguration(modelPath: "")
            configuration.modelSource = reference
            configuration.modelCache = hubCache
        } else {
            configuration = ServerConfiguration(modelPath: try DefaultModel.path(in: hubCache))
        }
        configuration.alias = string("alias", alias)
        let threads = try int("threads", self.threads) ?? CPUBudget.defaultThreads
        let deterministic = try bool("deterministic", self.deterministic)
        var promptCache = PromptCacheSetting.automatic
        if let mib = try int("cache-ram", cacheRam) {
            guard let setting = PromptCacheSetting(flagValue: mib) else {
                throw InputError("--cache-ram must be a size in MiB, -1 for no limit or 0 for no prompt cache, got \(mib)")
            }
            promptCache = setting
        }
        let batchSize = try int("batch-size", self.batchSize) ?? 512
        configuration.engine = EngineOptions(
            context: ContextOptions(contextSize: try int("ctx-size", contextSize) ?? 4096,
                                    sequences: try int("parallel", parallel) ?? 4,
                                    batchSize: batchSize,
                                    microBatchSize: try int("ubatch-size", microBatchSize) ?? ContextOptions.defaultMicroBatchSize,
                                    threads: threads,
                                    batchThreads: try int("threads-batch", threadsBatch) ?? threads,
                                    batchInvariant: deterministic),
            maxQueue: try int("max-queue", maxQueue) ?? 64,
            promptCache: promptCache,
            slotSavePath: string("slot-save-path", slotSavePath))
        configuration.gpuLayers = try int("n-gpu-layers", gpuLayers) ?? 0
        // Repacked weights take another kernel path for several rows than for one.
        configuration.repackWeights = !deterministic
        configuration.host = string("host", host) ?? "127.0.0.1"
        configuration.port = try int("port", port) ?? 8000
        configuration.metricsPort = try int("metrics-port", metricsPort)
        configuration.apiKeyFile = string("api-key-file", apiKeyFile)
        configuration.apiKeys = ["GEMMA_API_KEY", "LLAMA_API_KEY"]
            .compactMap { Environment.value($0, in: environment) }
            .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
        configuration.noAuth = try bool("no-auth", noAuth)
        if let text = string("max-body-size", maxBodySize) {
            configuration.maxBodySize = try ByteSizeText.parse(text, field: "--max-body-size")
        }
        configuration.corsOrigins = (string("cors-origins", corsOrigins) ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        configuration.requestTimeout = try duration("request-timeout", requestTimeout).flatMap { $0 == .zero ? nil : $0 }
        configuration.shutdownGrace = try duration("shutdown-grace", shutdownGrace) ?? .seconds(30)
        configuration.ssePingInterval = try duration("sse-ping-interval", ssePingInterval) ?? .seconds(15)
        guard configuration.ssePingInterval >= .milliseconds(100) else {
            throw InputError("--sse-ping-interval must be at least 100ms")
        }
        configuration.logPrompts = try bool("log-prompts", logPrompts)
        configuration.offline = try bool("offline", offline)
        try configuration.validate()
        return configuration
    }
}
