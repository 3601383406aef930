import Foundation
import Hummingbird
import Logging
import NIOCore

/// What every handler shares: settings, the model host, keys and metrics, and turning a request's
/// prompt into tokens.
public final class ServerCore: Sendable {
    public let configuration: ServerConfiguration
    /// The models served, and which are loaded.
    public let registry: ModelRegistry
    public let keys: APIKeyStore
    public let metrics: ServerMetrics
    public let startedAt = Date()
    let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "gemmactl.serve")) throws(ServeError) {
        self.configuration = configuration
        registry = ModelRegistry(configuration: configuration, logger: logger)
        keys = configuration.noAuth ? try APIKeyStore(keys: [], file: nil)
                                    : try APIKeyStore(keys: configuration.apiKeys, file: configuration.apiKeyFile)
        // Models added by model management get series of their own beside the first model's.
        metrics = ServerMetrics(labelsModels: registry.isRouting || configuration.allowModelManagement)
        self.logger = logger
    }

    /// The default model: the only one, or the first `-m`.
    public var host: ModelHost { registry.defaultHost }

    var modelID: String { configuration.modelID }

    /// The server-wide sampling defaults (`--temp`, `--seed`, …) that a request's own fields override.
    var sampling: SamplingParameters { configuration.samplingDefaults.sampling }

    /// A request's token limit: its own, else the server's `-n`, else the API's default (nil: none).
    func maxTokens(_ requested: Int?, apiDefault: Int? = nil) -> Int? {
        requested ?? configuration.samplingDefaults.maxTokens(orAPIDefault: apiDefault)
    }

    /// The model a request names (`model`), loaded first when it is not (see `ModelRegistry`), and
    /// held for the request until its answer is written. An unknown name is a 404 listing the
    /// models served; with one model any name is that model, 503 while it loads and 500 if it failed.
    func requireModel(named name: String? = nil) async throws -> ModelHost.Loaded {
        let host = try registry.host(named: name)
        if !registry.isRouting, case .failed = host.current { throw APIError.modelFailed }
        let leases = RequestLeases.current
        let loaded = try await registry.acquire(host, lease: leases != nil)
        leases?.hold(host)
        return loaded
    }

    /// The model a request names if it is loaded, without loading it (what /props, /slots and
    /// /metrics read: asking about a model must not load it): 503 while it is not loaded.
    func loadedModel(named name: String?) throws -> ModelHost.Loaded {
        let host = try registry.host(named: name)
        switch host.current {
        case .ready(let loaded): return loaded
        case .loading: throw APIError.loading
        case .failed where !registry.isRouting: throw APIError.modelFailed
        case .unloaded, .failed: throw APIError.modelNotLoaded(host.modelID, autoload: registry.autoload)
        }
    }

    /// The chat's prompt text and tokens, with `tools` described to the model when offered
    /// (`ChatConversation.templateMessages`). A chat whose content alone has more bytes than a
    /// slot's context could hold is refused before any work; the rest is formatted and tokenized
    /// off Swift's cooperative pool, which has one thread per core and also answers /health.
    /// `addGenerationPrompt` and `kwargsJSON` (`chat_template_kwargs`) go to the template; a chat
    /// the template refuses is a 400 naming why.
    func prompt(chat conversation: ChatConversation, tools: ToolCalling? = nil, addGenerationPrompt: Bool = true,
                kwargsJSON: String? = nil, loaded: ModelHost.Loaded) async throws -> (text: String, tokens: [Token]) {
        let messages = conversation.templateMessages(tools: tools)
        try checkFits(bytes: messages.reduce(0) { $0 + $1.content.utf8.count }, loaded: loaded)
        return try await Self.offCooperativePool {
            Result { () throws(EngineError) in
                let prompt = try loaded.formatter.prompt(messages, addGenerationPrompt: addGenerationPrompt, kwargsJSON: kwargsJSON)
                return (prompt.text, loaded.model.tokenize(prompt))
            }
        }.get()
    }

    /// The tokens of a prompt given as text (BOS added), refused early as `prompt(chat:)` is.
    func prompt(text: String, parseSpecial: Bool, loaded: ModelHost.Loaded) async throws -> [Token] {
        try checkFits(bytes: text.utf8.count, loaded: loaded)
        return await Self.offCooperativePool { loaded.model.tokenize(text, addSpecial: true, parseSpecial: parseSpecial) }
    }

    /// 400 for text that is sure to take more tokens than a slot holds: no token stands for more
    /// than `maxTokenBytes` bytes, so no prompt that could fit is refused.
    func checkFits(bytes: Int, loaded: ModelHost.Loaded) throws {
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
}
