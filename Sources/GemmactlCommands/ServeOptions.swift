import ArgumentParser
import Foundation
import GemmaKit

/// `gemmactl serve`'s settings: one option per `ServeSettings` descriptor, resolved once into a
/// `ServerConfiguration` (flags over the environment over the defaults).
struct ServeOptions: ParsableArguments {
    @OptionGroup var compute: Flags.Compute
    @Option(ServeSettings.hfRepo) var hfRepo: String?
    @Option(ServeSettings.hfFile) var hfFile: String?
    @Option(ServeSettings.alias) var alias: String?
    @Option(ServeSettings.tags) var tags: String?
    @Option(ServeSettings.threadsBatch) var threadsBatch: Int?
    @Option(ServeSettings.host) var host: String?
    @Option(ServeSettings.port) var port: Int?
    @Option(ServeSettings.apiKeyFile) var apiKeyFile: String?
    @Flag(ServeSettings.noAuth) var noAuth: Bool
    @Option(ServeSettings.maxBodySize) var maxBodySize: UInt64?
    @Option(ServeSettings.corsOrigins) var corsOrigins: String?
    @Option(ServeSettings.maxQueue) var maxQueue: Int?
    @Option(ServeSettings.requestTimeout) var requestTimeout: Duration?
    @Option(ServeSettings.shutdownGrace) var shutdownGrace: Duration?
    @Option(ServeSettings.ssePingInterval) var ssePingInterval: Duration?
    @Option(ServeSettings.metricsPort) var metricsPort: Int?
    @Flag(ServeSettings.offline) var offline: Bool
    @Flag(ServeSettings.logPrompts) var logPrompts: Bool
    @Flag(ServeSettings.deterministic) var deterministic: Bool
    @Option(ServeSettings.cacheRam) var cacheRam: Int?
    @Option(ServeSettings.slotSavePath) var slotSavePath: String?
    @Flag(inverting: ServeSettings.jinja) var jinja: Bool?
    @Option(ServeSettings.chatTemplate) var chatTemplate: String?
    @Option(ServeSettings.chatTemplateFile) var chatTemplateFile: String?
    @Option(ServeSettings.pooling) var pooling: EmbeddingPooling?
    @Flag(inverting: ServeSettings.slots) var slots: Bool?
    @Flag(ServeSettings.metrics) var metrics: Bool
    @Flag(ServeSettings.props) var props: Bool

    /// Every value checked; the environment is read here and nowhere below.
    func resolve(environment: [String: String], cache: HubCache? = nil) throws -> ServerConfiguration {
        typealias S = ServeSettings
        let compute = try self.compute.resolve(in: environment)
        let hubCache = cache ?? HubCache.resolve(environment: environment)
        var configuration: ServerConfiguration
        let repo = try S.hfRepo.resolve(hfRepo, in: environment), file = try S.hfFile.resolve(hfFile, in: environment)
        // -m takes what `pull` takes: a path, ORG/REPO[:QUANT] or ollama://NAME:TAG.
        var named: ModelReference?
        if repo == nil, let model = compute.model { named = try ModelReference.parse(model, preferRepository: true) }
        if file != nil, repo == nil { throw InputError("--hf-file needs --hf-repo naming the repository it is in") }
        if case .file(let path)? = named {
            guard FileManager.default.fileExists(atPath: path) else {
                let error = GGUFError(.notFound, path: path, "")
                throw InputError(error.message, recovery: error.recovery)
            }
            configuration = ServerConfiguration(modelPath: path)
        } else if compute.model != nil || repo != nil {
            // A model from a registry: found in the cache or downloaded while the server starts.
            let reference = try named ?? ModelReference(model: compute.model, hfRepo: repo, hfFile: file)
            configuration = ServerConfiguration(modelPath: "")
            configuration.modelSource = reference
            configuration.modelCache = hubCache
        } else {
            configuration = ServerConfiguration(modelPath: try DefaultModel.path(in: hubCache))
        }
        configuration.offline = try S.offline.resolve(offline, in: environment)
        configuration.hubSettings = try HubSettings.resolve(environment: environment, offline: configuration.offline)
        configuration.aliases = Self.list(try S.alias.resolve(alias, in: environment))
        configuration.tags = Self.list(try S.tags.resolve(tags, in: environment))
        let deterministic = try S.deterministic.resolve(deterministic, in: environment)
        var promptCache = PromptCacheSetting.automatic
        if let mib = try S.cacheRam.resolve(cacheRam, in: environment) {
            guard let setting = PromptCacheSetting(flagValue: mib) else {
                throw InputError("--cache-ram must be a size in MiB, -1 for no limit or 0 for no prompt cache, got \(mib)")
            }
            promptCache = setting
        }
        configuration.engine = EngineOptions(
            context: ContextOptions(contextSize: compute.contextSize, sequences: compute.parallel, batchSize: compute.batchSize,
                                    microBatchSize: compute.microBatchSize, threads: compute.threads,
                                    batchThreads: try S.threadsBatch.resolve(threadsBatch, in: environment) ?? compute.threads,
                                    batchInvariant: deterministic),
            maxQueue: try S.maxQueue.resolve(maxQueue, in: environment)!,
            promptCache: promptCache,
            slotSavePath: try S.slotSavePath.resolve(slotSavePath, in: environment))
        configuration.engine.embeddingPooling = try S.pooling.resolve(pooling, in: environment)!
        configuration.gpuLayers = compute.gpuLayers
        // Repacked weights take another kernel path for several rows than for one.
        configuration.repackWeights = !deterministic
        configuration.hosts = Self.list(try S.host.resolve(host, in: environment))
        configuration.port = try S.port.resolve(port, in: environment)!
        configuration.metricsPort = try S.metricsPort.resolve(metricsPort, in: environment)
        configuration.apiKeyFile = try S.apiKeyFile.resolve(apiKeyFile, in: environment)
        configuration.apiKeys = S.apiKeyVariables
            .compactMap { Environment.value($0, in: environment) }
            .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
        configuration.noAuth = try S.noAuth.resolve(noAuth, in: environment)
        configuration.maxBodySize = Int(clamping: try S.maxBodySize.resolve(maxBodySize, in: environment)!)
        configuration.corsOrigins = Self.list(try S.corsOrigins.resolve(corsOrigins, in: environment))
        configuration.requestTimeout = try S.requestTimeout.resolve(requestTimeout, in: environment).flatMap { $0 == .zero ? nil : $0 }
        configuration.shutdownGrace = try S.shutdownGrace.resolve(shutdownGrace, in: environment)!
        configuration.ssePingInterval = try S.ssePingInterval.resolve(ssePingInterval, in: environment)!
        guard configuration.ssePingInterval >= .milliseconds(100) else {
            throw InputError("--sse-ping-interval must be at least 100ms")
        }
        configuration.logPrompts = try S.logPrompts.resolve(logPrompts, in: environment)
        configuration.chatTemplate = try ChatTemplateOptions.resolve(
            name: try S.chatTemplate.resolve(chatTemplate, in: environment),
            file: try S.chatTemplateFile.resolve(chatTemplateFile, in: environment),
            jinja: try S.jinja.resolve(jinja, in: environment)!)
        configuration.slotsEndpoint = try S.slots.resolve(slots, in: environment)!
        configuration.propsEndpoint = try S.props.resolve(props, in: environment)
        // Accepted for llama-server's command lines; /metrics is always served.
        _ = try S.metrics.resolve(metrics, in: environment)
        try configuration.validate()
        return configuration
    }

    /// A comma-separated setting's entries, trimmed, empty ones dropped (llama-server's rule).
    private static func list(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
