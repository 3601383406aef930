import Foundation

/// Everything `gemmactl serve` needs, resolved once from flags and environment.
public struct ServerConfiguration: Sendable {
    /// Path of the GGUF to load (empty until `modelSource` is resolved).
    public var modelPath: String
    /// A registry model (Hugging Face or Ollama) to take from the cache or download before loading.
    public var modelSource: ModelReference?
    /// The cache `modelSource` is resolved in.
    public var modelCache: HubCache?
    /// Take `modelSource` from the cache only, never the network (`--offline`, as llama-server).
    public var offline: Bool = false
    /// Where `modelSource` is fetched from, resolved with the rest of the settings.
    public var hubSettings = HubSettings()
    /// Model names (`--alias a,b`): the first is the model id in responses, /v1/models lists them
    /// all; default: the file name without `.gguf`.
    public var aliases: [String] = []
    /// Model tags (`--tags`), listed by /v1/models.
    public var tags: [String] = []
    public var engine: EngineOptions = EngineOptions(context: ContextOptions(contextSize: 4096, sequences: 4))
    public var gpuLayers: Int = 0
    /// Let llama.cpp repack weights for speed (see `ModelLoadOptions.repackWeights`).
    public var repackWeights: Bool = false
    /// Addresses to listen on, all on `port`; the first is the main listener.
    public var hosts: [String] = ["127.0.0.1"]
    public var port: Int = 8000
    /// A separate listener for /metrics without auth, if set.
    public var metricsPort: Int?
    /// Keys from the environment (GEMMA_API_KEY / LLAMA_API_KEY).
    public var apiKeys: [String] = []
    public var apiKeyFile: String?
    public var noAuth: Bool = false
    public var maxBodySize: Int = 8 << 20
    /// Origins whose web pages may call the API (`--cors-origins`; "*" for any, "localhost" for any
    /// localhost origin). Default none.
    public var corsOrigins: [String] = []
    /// Longest a request may take, queue and generation together; nil: no limit.
    public var requestTimeout: Duration?
    public var shutdownGrace: Duration = .seconds(30)
    public var ssePingInterval: Duration = .seconds(15)
    public var logPrompts: Bool = false
    /// llama-server's `-v`: OpenAI completion answers carry `__verbose`, the native answer.
    public var verboseAnswers: Bool = false
    /// The chat template and its engine (`--jinja`, `--chat-template`, `--chat-template-file`).
    public var chatTemplate = ChatTemplateOptions()
    /// How replies' thinking is returned when a request does not say (`--reasoning-format`).
    public var reasoningFormat: ReasoningFormat = .auto
    /// Most tokens a reply may think (`--reasoning-budget`); nil: no limit.
    public var reasoningBudget: Int?
    /// Serve GET /slots (`--no-slots`: 501 as llama-server).
    public var slotsEndpoint: Bool = true
    /// Accept POST /props (`--props`).
    public var propsEndpoint: Bool = false
    /// Serve /metrics (`--no-metrics`: 501 as llama-server without `--metrics`).
    public var metricsEndpoint: Bool = true
    /// What a request that does not set a sampling field or its token limit gets (`--temp`, `-n`, …).
    public var samplingDefaults = SamplingDefaults()
    /// How often the keys file is checked for changes.
    public var keyFilePollInterval: Duration = .seconds(1)

    /// Models served beside this one (`-m` given again): loaded when a request names one, unloaded
    /// when idle or to make room. This configuration's own model is the default, loaded at start.
    public var otherModels: [ModelChoice] = []
    /// Most models loaded at once (`--models-max`).
    public var modelsMax = 4
    /// Memory the loaded models' plans may add up to (`--memory-budget`, else the cgroup limit); nil: no limit.
    public var memoryBudget: UInt64?
    /// How long a model stays loaded after its last request (`--keep-alive`); nil: until evicted.
    public var keepAlive: Duration?
    /// A single model sleeps (weights and KV freed) after this long without a request
    /// (`--sleep-idle-seconds`); the next request wakes it. nil: never.
    public var sleepIdle: Duration?
    /// Load a model that a request names (`--no-models-autoload`: only `POST /models/load` does).
    public var modelsAutoload = true
    /// Model management over the API (`--allow-model-management`): Ollama's `/api/pull`, `/api/delete`
    /// and `/api/copy`, llama-server's `POST /models` and `DELETE /models`; off, they answer 403.
    public var allowModelManagement = false
    /// This model was found in the shared cache (`ModelChoice.foundInCache`), not asked for.
    public var foundInCache = false
    /// Load this model when the server starts (`load-on-startup` in `--models-preset`), not on its first request.
    public var loadOnStartup = false

    public init(modelPath: String) { self.modelPath = modelPath }

    /// The model id clients see.
    public var modelID: String {
        if let alias = aliases.first, !alias.isEmpty { return alias }
        switch modelSource {
        case .huggingFace(let repo, let file, let quant, _)?:
            if let file { return file.hasSuffix(".gguf") ? String(file.dropLast(5)) : file }
            let name = repo.split(separator: "/").last.map(String.init) ?? repo
            return quant.map { "\(name):\($0)" } ?? name
        case .ollama(_, let name, let tag)?:
            return "\(name):\(tag)"
        case .file, nil:
            break
        }
        let name = URL(fileURLWithPath: modelPath).lastPathComponent
        return name.hasSuffix(".gguf") ? String(name.dropLast(5)) : name
    }

    /// Every name a request may use for this model: its aliases and id, the file name with and
    /// without `.gguf`, and the reference it was given as (`org/repo:quant`, `name:tag`, the path).
    public var modelNames: [String] {
        var names = aliases + [modelID]
        let file = URL(fileURLWithPath: modelPath).lastPathComponent
        if !modelPath.isEmpty { names += [file, modelPath] }
        switch modelSource {
        case .huggingFace(let repo, let file, let quant, _)?:
            names += [repo] + (quant.map { ["\(repo):\($0)"] } ?? []) + (file.map { ["\(repo)/\($0)"] } ?? [])
        case .ollama(let namespace, let name, let tag)?:
            names += ["\(name):\(tag)", "ollama://\(name):\(tag)", "\(namespace)/\(name):\(tag)"] + (tag == "latest" ? [name] : [])
        case .file, nil:
            break
        }
        var seen = Set<String>()
        return names.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    /// One configuration per model served, the default first: each is this one with its own model
    /// and names, and no other models.
    public var servedModels: [ServerConfiguration] {
        var first = self
        first.otherModels = []
        return [first] + otherModels.map(first.serving)
    }

    /// This configuration serving `choice` instead of its own model: its names, and its settings when it has its own.
    func serving(_ choice: ModelChoice) -> ServerConfiguration {
        var configuration = self
        configuration.otherModels = []
        configuration.modelPath = choice.path
        configuration.modelSource = choice.source
        configuration.aliases = choice.alias.map { [$0] } ?? []
        configuration.foundInCache = choice.foundInCache
        configuration.loadOnStartup = false
        choice.settings?.apply(to: &configuration)
        return configuration
    }

    /// Whether every address in `hosts` only accepts connections from this machine.
    public var isLoopbackHost: Bool {
        hosts.allSatisfy { host in ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) || host.hasPrefix("127.") }
    }

    /// Refuses settings that would start an unsafe or broken server; the error names the flag.
    public func validate() throws(ServeError) {
        typealias S = ServeSettings
        guard !hosts.isEmpty else { throw ServeError("\(S.host.flag) needs at least one address, e.g. 127.0.0.1 or 127.0.0.1,::1") }
        guard Set(hosts).count == hosts.count else { throw ServeError("\(S.host.flag) names an address twice: \(hosts.joined(separator: ","))") }
        if !noAuth, apiKeys.isEmpty, apiKeyFile == nil, !isLoopbackHost {
            throw ServeError("refusing to listen on \(hosts.joined(separator: ",")) without an API key",
                             recovery: "set GEMMA_API_KEY or \(S.apiKeyFile.flag), or pass \(S.noAuth.flag) to serve without authentication on purpose")
        }
        if let metricsPort {
            guard metricsEndpoint else {
                throw ServeError("\(S.metricsPort.flag) serves /metrics, which --no-metrics turns off", recovery: "drop one of them")
            }
            guard metricsPort != port || port == 0 else { throw ServeError("\(S.metricsPort.flag) must differ from \(S.port.flag) (\(port))") }
        }
        let ids = servedModels.map(\.modelID)
        if let twice = ids.first(where: { id in ids.filter { $0 == id }.count > 1 }) {
            throw ServeError("two models are both named '\(twice)'", recovery: "give each -m its own alias: -m NAME=MODEL")
        }
        if sleepIdle != nil, !otherModels.isEmpty {
            throw ServeError("--sleep-idle-seconds is for a single model", recovery: "with several -m, --keep-alive unloads idle models")
        }
        guard modelsMax >= 1 else { throw ServeError("--models-max must be at least 1, got \(modelsMax)") }
        // Each value's own range is its descriptor's (`ServeSettings`); what is checked here spans several.
        let context = engine.context
        guard context.contextSize >= 64 * context.sequences else {
            throw ServeError("\(S.contextSize.flag) \(context.contextSize) is too small for \(context.sequences) slots",
                             recovery: "give each slot at least 64 tokens: \(S.contextSize.flag) \(64 * context.sequences) or more")
        }
        if let path = engine.slotSavePath {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ServeError("\(S.slotSavePath.flag) \(path) is not a directory", recovery: "create it (on the model volume, so saved slots outlive the pod) or leave \(S.slotSavePath.flag) out")
            }
            guard FileManager.default.isWritableFile(atPath: path) else {
                throw ServeError("\(S.slotSavePath.flag) \(path) is not writable by this process", recovery: "make it writable by the server's user (uid 65532 in the image)")
            }
        }
        for origin in corsOrigins where !CrossOriginPolicy.keywords.contains(origin) {
            guard let url = URL(string: origin), let scheme = url.scheme, ["http", "https"].contains(scheme),
                  url.host != nil, url.path.isEmpty, url.query == nil, url.fragment == nil else {
                throw ServeError("\(S.corsOrigins.flag): '\(origin)' is not an origin",
                                 recovery: "give scheme://host[:port] with no path, e.g. https://app.example.com, comma-separated; localhost for any localhost origin (as llama-server); or * for any")
            }
        }
    }
}

/// A further model to serve (`-m [ALIAS=]REF`): a file, or a registry model taken from the cache
/// or downloaded when it is first loaded.
public struct ModelChoice: Sendable, Equatable {
    public var alias: String?
    /// The GGUF's path; empty until `source` is resolved.
    public var path: String
    public var source: ModelReference?
    /// Found in the shared model cache rather than asked for: one too large for the memory budget is
    /// refused when a request names it instead of stopping the start.
    public var foundInCache: Bool
    /// This model's own settings (a `--models-preset` section); nil: the server's.
    public var settings: ModelSettings?

    public init(alias: String? = nil, path: String, source: ModelReference? = nil, foundInCache: Bool = false,
                settings: ModelSettings? = nil) {
        self.alias = alias
        self.path = path
        self.source = source
        self.foundInCache = foundInCache
        self.settings = settings
    }
}

/// The settings a model may have of its own, as a `--models-preset` section gives them: its context,
/// slots and engine, chat template, reasoning and sampling defaults, and whether it loads at start.
/// The listener, keys, limits and the models' shared budget stay the server's.
public struct ModelSettings: Sendable, Equatable {
    public var engine: EngineOptions
    public var gpuLayers: Int
    public var repackWeights: Bool
    public var chatTemplate: ChatTemplateOptions
    public var reasoningFormat: ReasoningFormat
    public var reasoningBudget: Int?
    public var samplingDefaults: SamplingDefaults
    public var loadOnStartup: Bool

    /// These settings as `configuration` has them.
    public init(of configuration: ServerConfiguration, loadOnStartup: Bool = false) {
        engine = configuration.engine
        gpuLayers = configuration.gpuLayers
        repackWeights = configuration.repackWeights
        chatTemplate = configuration.chatTemplate
        reasoningFormat = configuration.reasoningFormat
        reasoningBudget = configuration.reasoningBudget
        samplingDefaults = configuration.samplingDefaults
        self.loadOnStartup = loadOnStartup
    }

    /// Gives `configuration` these settings.
    public func apply(to configuration: inout ServerConfiguration) {
        configuration.engine = engine
        configuration.gpuLayers = gpuLayers
        configuration.repackWeights = repackWeights
        configuration.chatTemplate = chatTemplate
        configuration.reasoningFormat = reasoningFormat
        configuration.reasoningBudget = reasoningBudget
        configuration.samplingDefaults = samplingDefaults
        configuration.loadOnStartup = loadOnStartup
    }
}

/// A problem with the server's settings or start-up.
public typealias ServeError = InputError

/// Server-wide sampling defaults (llama-server's `--temp`, `--seed`, `-n`, …): what a request that
/// does not set a field gets, and what /props shows as `default_generation_settings`.
public struct SamplingDefaults: Sendable, Equatable {
    public var sampling: SamplingParameters
    /// Most tokens to generate; -1: until the end of generation or the context is full.
    public var maxTokens: Int

    public init(sampling: SamplingParameters = SamplingParameters(), maxTokens: Int = -1) {
        self.sampling = sampling
        self.maxTokens = maxTokens
    }

    /// The limit for a request that set none: `-n`, or `fallback` (an API's own default) when `-n` is unset.
    public func maxTokens(orAPIDefault fallback: Int?) -> Int? {
        maxTokens >= 0 ? maxTokens : fallback
    }
}
