import Foundation
import Logging
import Synchronization

/// One model the server serves, and whether it is loaded. The server listens before its default
/// model has loaded, so health probes can see `loading`; with several models the others wait
/// `unloaded` until a request names one (`ModelRegistry` decides when each loads and unloads).
public final class ModelHost: Sendable {
    /// A loaded model with its engines.
    public struct Loaded: Sendable {
        /// The id clients see in answers (the host's `modelID`).
        public let modelID: String
        public let model: LlamaModel
        public let engine: InferenceEngine
        public let formatter: ChatFormatter
        public let loadDuration: Duration
        public let loadedAt: Date
        /// The model file's SHA-256 (Ollama's `digest`), computed in the background after loading.
        public let digest: FileDigest
    }

    public enum State: Sendable {
        case unloaded
        case loading
        case ready(Loaded)
        case failed(String)

        /// The status `/models/sse` shows, as llama-server's router names it (a failed load is `unloaded`, with `failed`).
        var name: String {
            switch self {
            case .unloaded, .failed: "unloaded"
            case .loading: "loading"
            case .ready: "loaded"
            }
        }

        var isFailed: Bool {
            if case .failed = self { return true }
            return false
        }
    }

    private let state: Mutex<State>
    /// This model's settings: the server's, with its own path and names.
    public let configuration: ServerConfiguration
    public let modelID: String
    /// The names a request may give for this model (`ServerConfiguration.modelNames`).
    public let names: [String]
    /// Unloads whose memory is still being given back.
    private let freeing = Mutex(0)
    /// Unloaded, and its memory given back.
    var isFreed: Bool {
        guard case .unloaded = current else { return false }
        return freeing.withLock { $0 == 0 }
    }
    /// What `/props` answered before the model was unloaded, for while it sleeps.
    let sleepingProps = Mutex<Props?>(nil)

    /// Where each change of state is told (`/models/sse`).
    private let events: ModelEvents?

    /// - Parameter state: `.loading` for the default model, loaded as the server starts; `.unloaded` for the others.
    init(configuration: ServerConfiguration, state: State = .loading, events: ModelEvents? = nil) {
        self.configuration = configuration
        modelID = configuration.modelID
        names = configuration.modelNames
        self.state = Mutex(state)
        self.events = events
    }

    /// Sets the state, telling `events` when the status changes; returns the state it replaced.
    @discardableResult
    private func set(_ new: State) -> State {
        let old = state.withLock { state in
            defer { state = new }
            return state
        }
        if old.name != new.name || old.isFailed != new.isFailed { events?.statusChanged(modelID, to: new) }
        return old
    }

    public var current: State { state.withLock { $0 } }

    public var loaded: Loaded? {
        if case .ready(let loaded) = current { return loaded }
        return nil
    }

    /// Loads the model and starts the engines; the state says how it went.
    public func load() async throws {
        let started = ContinuousClock.now
        set(.loading)
        do {
            let path = try await resolvedPath()
            let options = ModelLoadOptions(gpuLayers: configuration.gpuLayers, repackWeights: configuration.repackWeights)
            // Loading blocks for seconds: keep it off the cooperative pool.
            let model = try await WorkerThread(name: "gemmactl-load").runOnce {
                try LlamaModel(path: path, options: options)
            }
            let engine = try await InferenceEngine.start(model: model, options: configuration.engine)
            let formatter = try ChatFormatter(model: model, options: configuration.chatTemplate)
            let loaded = Loaded(modelID: modelID, model: model, engine: engine, formatter: formatter,
                                loadDuration: .now - started, loadedAt: Date(), digest: FileDigest(path: path))
            set(.ready(loaded))
        } catch {
            set(.failed("\(error)"))
            throw error
        }
    }

    /// The GGUF to load: the configured path, or the registry model taken from the cache
    /// (downloaded first when it is not there).
    private func resolvedPath() async throws -> String {
        guard let source = configuration.modelSource else { return configuration.modelPath }
        let logger = Logger(label: "gemmactl.serve")
        let resolver = ModelResolver(cache: configuration.modelCache ?? .resolve(environment: [:]), settings: configuration.hubSettings)
        if let cached = resolver.cachedPath(source) {
            // A cached model starts at once, hub or no hub (a pod restarting without egress, a hub
            // that is down); whether its branch moved on is asked meanwhile, and only logged.
            logger.info("model taken from the cache", metadata: ["model": "\(source)", "path": "\(cached)"])
            Task { ModelHost.log(await resolver.recheck(source), source: source, logger: logger) }
            return cached
        }
        let progress = PullProgressPrinter(style: .lines) { line, _ in logger.info("\(line.trimmingCharacters(in: .whitespacesAndNewlines))") }
        let path = try await resolver.resolve(source, progress: progress.handler)
        logger.info("model resolved", metadata: ["model": "\(source)", "path": "\(path)"])
        return path
    }

    /// The GGUF this model loads, once it is on disk (nil: a registry model not downloaded yet).
    var filePath: String? {
        guard let source = configuration.modelSource else { return configuration.modelPath.isEmpty ? nil : configuration.modelPath }
        return ModelResolver(cache: configuration.modelCache ?? .resolve(environment: [:]), settings: configuration.hubSettings).cachedPath(source)
    }

    /// The planner's estimate of what this model adds to the process once loaded (weights, KV for
    /// its context and slots, compute, embeddings, tokenizer, and a draft model's weights, KV and
    /// compute; the process itself counted once by the registry); nil when the file is not on disk
    /// yet (a registry model not yet downloaded).
    public func plannedBytes() -> UInt64? {
        guard let path = filePath else { return nil }
        let context = configuration.engine.context
        let options = PlanOptions(contextSize: context.contextSize, parallel: context.sequences, microBatch: context.microBatchSize)
        guard let plan = try? MemoryPlanner.plan(path: path, options: options) else { return nil }
        var bytes = plan.totalBytes - MemoryPlanner.processBaseBytes
        if let draft = configuration.engine.speculation.draftModel, configuration.engine.speculation.isOn {
            var draftOptions = options
            draftOptions.servesEmbeddings = false
            guard let draftPlan = try? MemoryPlanner.plan(path: draft, options: draftOptions) else { return nil }
            bytes += draftPlan.totalBytes - MemoryPlanner.processBaseBytes
        }
        return bytes
    }

    /// What the background re-check of a cached model found.
    private static func log(_ check: ModelResolver.CacheCheck?, source: ModelReference, logger: Logger) {
        switch check {
        case .current(let commit)?:
            logger.info("model re-check: the cache holds the hub's current revision", metadata: ["model": "\(source)", "commit": "\(commit)"])
        case .moved(let ref, let cached, let current)?:
            logger.notice("model re-check: the hub's \(ref) has moved on; serving the cached copy (gemmactl pull fetches the new one)",
                          metadata: ["model": "\(source)", "cached": "\(cached ?? "?")", "current": "\(current)"])
        case .unreachable(let reason)?:
            logger.warning("model re-check failed: the hub cannot be reached; serving the cached copy",
                           metadata: ["model": "\(source)", "reason": "\(reason)"])
        case nil:
            break  // a commit, or --offline: nothing to ask
        }
    }

    /// Stops the engine: running generations end with an error, the context is freed.
    public func shutdown() async {
        await loaded?.engine.shutdown()
    }

    /// Stops the engine and lets the model go: once the last request holding it is answered, the
    /// context, the weights and their mapping are freed. The state is `unloaded` from the start,
    /// so nothing new is sent to the engine.
    public func unload() async {
        guard let loaded = detach() else { return }
        await free(loaded)
    }

    /// Shuts `loaded`'s engine down (which frees the context), then waits, a few seconds at most,
    /// for the last reference to the model to go (the engine's thread ends just after), so that
    /// when this returns the weights are unmapped and the memory is really back.
    func free(_ loaded: consuming Loaded) async {
        freeing.withLock { $0 += 1 }
        defer { freeing.withLock { $0 -= 1 } }
        await loaded.engine.shutdown()
        weak let model = loaded.model
        _ = consume loaded
        let deadline = ContinuousClock.now + .seconds(5)
        while model != nil, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if model != nil {
            Logger(label: "gemmactl.serve").warning("an unloaded model is still referenced; its memory is freed when that ends")
        }
    }

    /// Marks the model unloaded and hands over what was loaded, for its engine to be shut down.
    func detach() -> Loaded? {
        let loaded: Loaded?
        if case .ready(let ready) = set(.unloaded) { loaded = ready } else { loaded = nil }
        if let loaded { sleepingProps.withLock { $0 = Props(loaded, configuration: configuration) } }
        return loaded
    }

    /// Marks a load about to start, so that requests arriving before it runs wait for it.
    func markLoading() { set(.loading) }

    var isReady: Bool { loaded != nil }

    var isLoading: Bool {
        if case .loading = current { return true }
        return false
    }

    /// Loaded or loading: what counts against the memory budget.
    var isResident: Bool { isReady || isLoading }
}
