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
                let progress = PullProgressPrinter(style: .lines) { line, _ in logger.info("\(line.trimmingCharacters(in: .whitespacesAndNewlines))") }
                path = try await ModelResolver(cache: configuration.modelCache ?? .resolve(environment: [:]),
                                               settings: configuration.hubSettings)
                    .resolve(source, progress: progress.handler)
                logger.info("model resolved", metadata: ["model": "\(source)", "path": "\(path)"])
            }
            let options = ModelLoadOptions(gpuLayers: configuration.gpuLayers, repackWeights: configuration.repackWeights)
            // Loading blocks for seconds: keep it off the cooperative pool.
            let resolvedPath = path
            let model = try await WorkerThread(name: "gemmactl-load").runOnce {
                try LlamaModel(path: resolvedPath, options: options)
            }
            var engineOptions = configuration.engine
            engineOptions.embeddingContextSize = configuration.embeddingContextSize
            let engine = try await InferenceEngine.start(model: model, options: engineOptions)
            let formatter = try ChatFormatter(model: model, options: configuration.chatTemplate)
            let loaded = Loaded(model: model, engine: engine, formatter: formatter,
                                loadDuration: .now - started, loadedAt: Date(), digest: FileDigest(path: resolvedPath))
            state.withLock { $0 = .ready(loaded) }
        } catch {
            state.withLock { $0 = .failed("\(error)") }
            throw error
        }
    }

    /// Stops the engine: running generations end with an error, the context is freed.
    public func shutdown() async {
        await loaded?.engine.shutdown()
    }
}
