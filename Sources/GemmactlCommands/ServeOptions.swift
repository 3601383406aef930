import ArgumentParser
import Foundation
import GemmaKit

/// `gemmactl serve`'s settings: one option per `ServeSettings` descriptor, resolved once into a
/// `ServerConfiguration` (flags over the environment over the defaults).
struct ServeOptions: ParsableArguments {
    /// The model, its compute and where it comes from.
    @OptionGroup var slots: Flags.Slots
    @Option(ServeSettings.hfRepo) var hfRepo: String?
    @Option(ServeSettings.hfFile) var hfFile: String?
    @Flag(ServeSettings.offline) var offline: Bool
    @Option(ServeSettings.threadsBatch) var threadsBatch: Int?
    @Flag(ServeSettings.deterministic) var deterministic: Bool

    /// Its names.
    @Option(ServeSettings.alias) var alias: String?
    @Option(ServeSettings.tags) var tags: String?

    /// Where it listens, and who may call it.
    @Option(ServeSettings.host) var host: String?
    @Option(ServeSettings.port) var port: Int?
    @Option(ServeSettings.apiKeyFile) var apiKeyFile: String?
    @Flag(ServeSettings.noAuth) var noAuth: Bool
    @Option(ServeSettings.corsOrigins) var corsOrigins: String?

    /// Limits and time.
    @Option(ServeSettings.maxBodySize) var maxBodySize: UInt64?
    @Option(ServeSettings.maxQueue) var maxQueue: Int?
    @Option(ServeSettings.requestTimeout) var requestTimeout: Duration?
    @Option(ServeSettings.shutdownGrace) var shutdownGrace: Duration?
    @Option(ServeSettings.ssePingInterval) var ssePingInterval: Duration?

    /// Prompt states kept between requests.
    @Option(ServeSettings.cacheRam) var cacheRam: PromptCacheSetting?
    @Option(ServeSettings.slotSavePath) var slotSavePath: String?

    /// Chat templates and embeddings.
    @Flag(inverting: ServeSettings.jinja) var jinja: Bool?
    @Option(ServeSettings.chatTemplate) var chatTemplate: String?
    @Option(ServeSettings.chatTemplateFile) var chatTemplateFile: String?
    @Option(ServeSettings.reasoningFormat) var reasoningFormat: ReasoningFormat?
    @Option(ServeSettings.reasoningBudget) var reasoningBudget: Int?
    @Option(ServeSettings.pooling) var pooling: EmbeddingPooling?

    /// Speculative decoding.
    @Option(ServeSettings.specType) var specType: [String]?
    @Option(ServeSettings.specDraftMax) var specDraftMax: Int?
    @Option(ServeSettings.specDraftMin) var specDraftMin: Int?

    /// Endpoints and logs.
    @Flag(inverting: ServeSettings.slots) var slotsEndpoint: Bool?
    @Flag(inverting: ServeSettings.metrics) var metrics: Bool?
    @Option(ServeSettings.metricsPort) var metricsPort: Int?
    @Flag(ServeSettings.props) var props: Bool
    @Flag(ServeSettings.logPrompts) var logPrompts: Bool

    /// Server-wide sampling defaults.
    @OptionGroup var sampling: SamplingOptions

    /// Every value checked; the environment is read here and nowhere below.
    func resolve(environment: [String: String], cache: HubCache? = nil) throws -> ServerConfiguration {
        typealias S = ServeSettings
        let compute = try slots.resolve(in: environment)
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
        // Sets, as llama-server keeps them: sorted without repeats, so its model id is the first in order.
        configuration.aliases = Array(Set(Self.list(try S.alias.resolve(alias, in: environment)))).sorted()
        configuration.tags = Array(Set(Self.list(try S.tags.resolve(tags, in: environment)))).sorted()
        let deterministic = try S.deterministic.resolve(deterministic, in: environment)
        // ggml's two-row i8mm kernels sum in another order batched than alone (docs/arm64.md); the
        // image's launcher runs the dotprod level for --deterministic, this catches a direct start.
        if deterministic && CPULevel.linked == "i8mm" {
            throw InputError("--deterministic needs batch-invariant CPU kernels, and this gemmactl runs the i8mm level's: "
                + "start it with \(CPULevel.environmentVariable)=dotprod (the image's launcher does so for --deterministic)")
        }
        var context = compute.context
        context.batchThreads = try S.threadsBatch.resolve(threadsBatch, in: environment) ?? compute.threads
        context.batchInvariant = deterministic
        configuration.engine = EngineOptions(
            context: context,
            maxQueue: try S.maxQueue.resolve(maxQueue, in: environment),
            promptCache: try S.cacheRam.resolve(cacheRam, in: environment),
            slotSavePath: try S.slotSavePath.resolve(slotSavePath, in: environment))
        configuration.engine.embeddingPooling = try S.pooling.resolve(pooling, in: environment)
        configuration.engine.speculation = SpeculationOptions(
            types: try S.specType.resolve(specType, in: environment),
            draftMax: try S.specDraftMax.resolve(specDraftMax, in: environment),
            draftMin: try S.specDraftMin.resolve(specDraftMin, in: environment))
        if configuration.engine.speculation.draftMin > configuration.engine.speculation.draftMax {
            throw InputError("--spec-draft-n-min (\(configuration.engine.speculation.draftMin)) must be at most --spec-draft-n-max (\(configuration.engine.speculation.draftMax))")
        }
        configuration.gpuLayers = compute.gpuLayers
        // Repacked weights take another kernel path for several rows than for one.
        configuration.repackWeights = !deterministic
        configuration.hosts = Self.list(try S.host.resolve(host, in: environment))
        configuration.port = try S.port.resolve(port, in: environment)
        configuration.metricsPort = try S.metricsPort.resolve(metricsPort, in: environment)
        configuration.apiKeyFile = try S.apiKeyFile.resolve(apiKeyFile, in: environment)
        configuration.apiKeys = S.apiKeyVariables
            .compactMap { Environment.value($0, in: environment) }
            .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
        configuration.noAuth = try S.noAuth.resolve(noAuth, in: environment)
        configuration.maxBodySize = Int(clamping: try S.maxBodySize.resolve(maxBodySize, in: environment))
        configuration.corsOrigins = Self.list(try S.corsOrigins.resolve(corsOrigins, in: environment))
        configuration.requestTimeout = try S.requestTimeout.resolve(requestTimeout, in: environment).flatMap { $0 == .zero ? nil : $0 }
        configuration.shutdownGrace = try S.shutdownGrace.resolve(shutdownGrace, in: environment)
        configuration.ssePingInterval = try S.ssePingInterval.resolve(ssePingInterval, in: environment)
        configuration.logPrompts = try S.logPrompts.resolve(logPrompts, in: environment)
        configuration.chatTemplate = try ChatTemplateOptions.resolve(
            name: try S.chatTemplate.resolve(chatTemplate, in: environment),
            file: try S.chatTemplateFile.resolve(chatTemplateFile, in: environment),
            jinja: try S.jinja.resolve(jinja, in: environment))
        configuration.reasoningFormat = try S.reasoningFormat.resolve(reasoningFormat, in: environment)
        let budget = try S.reasoningBudget.resolve(reasoningBudget, in: environment)
        configuration.reasoningBudget = budget < 0 ? nil : budget
        configuration.slotsEndpoint = try S.slots.resolve(slotsEndpoint, in: environment)
        configuration.propsEndpoint = try S.props.resolve(props, in: environment)
        configuration.metricsEndpoint = try S.metrics.resolve(metrics, in: environment)
        configuration.samplingDefaults = try sampling.resolve(in: environment)
        try configuration.validate()
        return configuration
    }

    /// A comma-separated setting's entries, trimmed, empty ones dropped (llama-server's rule).
    private static func list(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// llama-server's server-wide sampling flags (`--temp`, `--seed`, `-n`, …), for `serve`.
struct SamplingOptions: ParsableArguments {
    @Option(ServeSettings.temperature) var temperature: Double?
    @Option(ServeSettings.seed) var seed: Int?
    @Option(ServeSettings.nPredict) var nPredict: Int?
    @Option(ServeSettings.topK) var topK: Int?
    @Option(ServeSettings.topP) var topP: Double?
    @Option(ServeSettings.minP) var minP: Double?
    @Option(ServeSettings.repeatPenalty) var repeatPenalty: Double?

    func resolve(in environment: [String: String]) throws -> SamplingDefaults {
        typealias S = ServeSettings
        let seed = try S.seed.resolve(seed, in: environment)
        return SamplingDefaults(
            sampling: SamplingParameters(
                temperature: try S.temperature.resolve(temperature, in: environment),
                topK: try S.topK.resolve(topK, in: environment), topP: try S.topP.resolve(topP, in: environment),
                minP: try S.minP.resolve(minP, in: environment),
                repeatPenalty: try S.repeatPenalty.resolve(repeatPenalty, in: environment),
                seed: seed < 0 ? nil : UInt32(seed)),
            maxTokens: try S.nPredict.resolve(nPredict, in: environment))
    }
}
