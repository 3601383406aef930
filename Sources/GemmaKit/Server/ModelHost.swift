import Foundation
import Logging
import Synchronization

/// The model the server serves, and whether it is loaded yet. The server listens before the model
/// has loaded, so health probes can see `loading`.
public final class ModelHost: Sendable {
    /// A loaded model with its engines.
    public struct Loaded: Sendable {
        public let model: LlamaModel
        public let engine: InferenceEngine
        public let formatter: ChatFormatter
        public let loadDuration: Duration
        public let loadedAt: Date
        /// The model file's SHA-256 (Ollama's `digest`), computed in the background after loading.
        public let digest: FileDigest
    }

    public enum State: Sendable {
        case loading
        case ready(Loaded)
        case failed(String)
    }

    private let state = Mutex<State>(.loading)
    public let modelID: String

    public init(modelID: String) { self.modelID = modelID }

    public var current: State { state.withLock { $0 } }

    public var loaded: Loaded? {
        if case .ready(let loaded) = current { return loaded }
        return nil
    }

    /// Loads the model and starts the engines; the state says how it went.
    public func load(_ configuration: ServerConfiguration) async throws {
        let started = ContinuousClock.now
        do {
            var path = configuration.modelPath
            if let source = configuration.modelSource {
                let logger = Logger(label: "gemmactl.serve")
                let resolver = ModelResolver(cache: configuration.modelCache ?? .resolve(environment: [:]),
                                             settings: configuration.hubSettings)
                if let cached = resolver.cachedPath(source) {
                    // A cached model starts at once, hub or no hub (a pod restarting without egress, a hub
                    // that is down); whether its branch moved on is asked meanwhile, and only logged.
                    path = cached
                    logger.info("model taken from the cache", metadata: ["model": "\(source)", "path": "\(path)"])
                    Task { ModelHost.log(await resolver.recheck(source), source: source, logger: logger) }
                } else {
                    let progress = PullProgressPrinter(style: .lines) { line, _ in logger.info("\(line.trimmingCharacters(in: .whitespacesAndNewlines))") }
                    path = try await resolver.resolve(source, progress: progress.handler)
                    logger.info("model resolved", metadata: ["model": "\(source)", "path": "\(path)"])
                }
            }
            let options = ModelLoadOptions(gpuLayers: configuration.gpuLayers, repackWeights: configuration.repackWeights)
            // Loading blocks for seconds: keep it off the cooperative pool.
            let resolvedPath = path
            let model = try await WorkerThread(name: "gemmactl-load").runOnce {
                try LlamaModel(path: resolvedPath, options: options)
            }
            let engine = try await InferenceEngine.start(model: model, options: configuration.engine)
            let formatter = try ChatFormatter(model: model, options: configuration.chatTemplate)
            let loaded = Loaded(model: model, engine: engine, formatter: formatter,
                                loadDuration: .now - started, loadedAt: Date(), digest: FileDigest(path: resolvedPath))
            state.withLock { $0 = .ready(loaded) }
        } catch {
            state.withLock { $0 = .failed("\(error)") }
            throw error
        }
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
}
