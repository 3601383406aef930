import Foundation
import Logging

/// Downloads, copies and removes models of the shared cache while the server runs
/// (`--allow-model-management`), keeping the registry in step: a pulled or copied model is served
/// at once, a removed one no longer. A model that is loaded, loading or answering is never touched.
struct ModelManagement: Sendable {
    let registry: ModelRegistry
    let cache: HubCache
    let settings: HubSettings
    let logger: Logger

    init(server: ServerCore) {
        registry = server.registry
        cache = server.configuration.modelCache ?? .resolve(environment: [:])
        settings = server.configuration.hubSettings
        logger = server.logger
    }

    /// What a pull reports as it goes: the downloader's events, then the model served or the failure.
    enum Progress: Sendable {
        case event(PullEvent)
        case served(ModelHost)
        case failed(any Error)
    }

    /// Pulls `reference` into the cache (resuming, checking its sha256) and serves it as `name`
    /// unless a model at that file is served already. Returns once the download has begun, the
    /// volume's free space checked, or the file was found in the cache; a failure before then is
    /// thrown (a volume too small, an unknown model), so the caller can still answer with its status.
    /// The returned stream replays every event from the start. The pull runs to its end even when
    /// the caller stops reading, so a client that disconnects leaves a complete file (or a partial
    /// one the next pull resumes). `/models/sse` is told of its progress and end.
    func pull(_ reference: ModelReference, name: String) async throws -> AsyncStream<Progress> {
        let (stream, continuation) = AsyncStream.makeStream(of: Progress.self)
        let (begun, opened) = AsyncStream.makeStream(of: (any Error)?.self, bufferingPolicy: .bufferingOldest(1))
        let events = registry.events
        Task { [self] in
            do {
                let resolver = ModelResolver(cache: cache, settings: settings)
                let path = try await resolver.resolve(reference) { event in
                    continuation.yield(.event(event))
                    switch event {
                    case .started: opened.yield(nil)
                    case .progress(let bytes, let total):
                        events.publish(ModelEvent(model: name, event: "download_progress", data: [
                            "progress": .object(["done": .integer(Int64(bytes)), "total": total.map { .integer(Int64($0)) } ?? .null])]))
                    default: break
                    }
                }
                let host = try served(path) ?? registry.add(ModelChoice(alias: name, path: "", source: reference))
                logger.info("model pulled", metadata: ["model": "\(host.modelID)", "path": "\(path)"])
                events.publish(ModelEvent(model: host.modelID, event: "download_finished"))
                opened.yield(nil)
                continuation.yield(.served(host))
            } catch {
                logger.warning("model pull failed", metadata: ["model": "\(reference)", "error": "\(error)"])
                events.publish(ModelEvent(model: name, event: "download_failed"))
                opened.yield(error)
                continuation.yield(.failed(error))
            }
            opened.finish()
            continuation.finish()
        }
        for await first in begun {
            if let error = first { throw error }
            break
        }
        return stream
    }

    /// The model served from the GGUF at `path`, if one is.
    private func served(_ path: String) -> ModelHost? {
        registry.hosts.first { $0.filePath == path }
    }

    /// Removes the model named `name` from the cache and stops serving it (and any other name for the
    /// same file): a 404 for a name not served, a 400 for a model that is not in the shared cache
    /// (a file the server was started with), a 409 while it (or another name for it) is loaded.
    func delete(_ name: String) throws {
        let host = try registry.host(exactlyNamed: name)
        guard let path = host.filePath else {
            throw APIError(.notFound, "the model '\(host.modelID)' is not in the cache yet", param: "model")
        }
        guard let entry = cache.listModels().first(where: { $0.path == path }) else {
            throw APIError.badRequest("the model '\(host.modelID)' is a file the server was started with, not a model of the shared cache; "
                                      + "stop serving it by changing the server's -m or --models-dir", param: "model")
        }
        // Removing the file from the repository removes it from each of its snapshots: every name served from one goes too.
        let snapshots = cache.repoDirectory(entry.repo).appendingPathComponent("snapshots").path + "/"
        let sameFile = registry.hosts.filter { other in
            guard let path = other.filePath else { return false }
            return path.hasPrefix(snapshots) && path.hasSuffix("/" + entry.file)
        }
        try registry.remove(sameFile) { try cache.remove(repo: entry.repo, file: entry.file) }
        logger.info("model deleted from the cache", metadata: ["model": "\(host.modelID)", "path": "\(path)"])
    }

    /// Serves the model named `source` also as the Ollama name `destination`, persistently: the cache
    /// gets the new name linked to the same weights (no second copy). A 409 when `destination` is
    /// taken (Ollama would replace it; gemmactl never drops a model by copying over it).
    func copy(_ source: String, to destination: String) throws -> ModelHost {
        let host = try registry.host(exactlyNamed: source)
        guard let path = host.filePath else {
            throw APIError(.notFound, "the model '\(host.modelID)' is not in the cache yet", param: "source")
        }
        guard case .ollama(let namespace, let name, let tag)? = try? ModelReference.parseOllama(destination) else {
            throw APIError.badRequest("'destination' must be a model name such as my-model or my-model:latest, got \"\(destination)\"",
                                      param: "destination")
        }
        if registry.hosts.contains(where: { $0.names.contains(destination) || $0.names.contains("\(name):\(tag)") }) {
            throw APIError(.conflict, "a model named '\(destination)' is already served; delete it first", param: "destination")
        }
        let (repo, file) = ModelReference.ollamaCacheName(namespace: namespace, name: name, tag: tag)
        _ = try cache.copyModel(at: path, toRepo: repo, file: file, ref: tag)
        let alias = namespace == "library" ? "\(name):\(tag)" : "\(namespace)/\(name):\(tag)"
        let copy = try registry.add(ModelChoice(alias: alias, path: "", source: .ollama(namespace: namespace, name: name, tag: tag),
                                                  settings: ModelSettings(of: host.configuration)))
        logger.info("model copied", metadata: ["model": "\(host.modelID)", "to": "\(alias)"])
        return copy
    }
}
