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

    /// Several models: how many stay loaded, in how much memory, for how long.
    @Option(ServeSettings.modelsMax) var modelsMax: Int?
    @Option(ServeSettings.memoryBudget) var memoryBudget: UInt64?
    @Option(ServeSettings.keepAlive) var keepAlive: KeepAlive?
    @Option(ServeSettings.modelsDir) var modelsDir: String?
    @Option(ServeSettings.modelsPreset) var modelsPreset: String?
    @Option(ServeSettings.sleepIdleSeconds) var sleepIdleSeconds: Int?
    @Flag(ServeSettings.noModelsAutoload) var noModelsAutoload: Bool
    @Flag(ServeSettings.allowModelManagement) var allowModelManagement: Bool

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
    @Option(ServeSettings.specDraftModel) var specDraftModel: String?
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
        // --models-preset: each section a model with its own settings (resolved as this command's, in the section's environment).
        var presetModels = try S.modelsPreset.resolve(modelsPreset, in: environment).map { path in
            try models(of: ModelsPreset.load(path: path), file: path, environment: environment, cache: hubCache)
        } ?? []
        var defaultSettings: ModelSettings?
        let modelsDirectory = try S.modelsDir.resolve(modelsDir, in: environment)
        let modelsDirGiven = modelsDirectory != nil
        var directoryModels = try modelsDirectory.map(Self.models(in:)) ?? []
        // -m takes what `pull` takes: a path, ORG/REPO[:QUANT] or ollama://NAME:TAG.
        var named: ModelReference?
        // -m [ALIAS=]MODEL, repeated: the first is the default model, the others are served beside it.
        let specs = try (slots.compute.models.isEmpty ? compute.model.map { [$0] } ?? [] : slots.compute.models).map { try ModelSpec.parse($0) }
        let (firstAlias, firstModel) = (specs.first?.alias, specs.first?.reference)
        if repo == nil, let model = firstModel { named = try ModelReference.parse(model, preferRepository: true) }
        if file != nil, repo == nil { throw InputError("--hf-file needs --hf-repo naming the repository it is in") }
        if case .file(let path)? = named {
            guard FileManager.default.fileExists(atPath: path) else {
                let error = GGUFError(.notFound, path: path, "")
                throw InputError(error.message, recovery: error.recovery)
            }
            configuration = ServerConfiguration(modelPath: path)
        } else if firstModel != nil || repo != nil {
            // A model from a registry: found in the cache or downloaded while the server starts.
            let reference = try named ?? ModelReference(model: firstModel, hfRepo: repo, hfFile: file)
            configuration = ServerConfiguration(modelPath: "")
            configuration.modelSource = reference
            configuration.modelCache = hubCache
        } else if !directoryModels.isEmpty {
            let first = directoryModels.removeFirst()
            configuration = ServerConfiguration(modelPath: first.path)
            configuration.aliases = first.alias.map { [$0] } ?? []
        } else if !presetModels.isEmpty {
            let first = presetModels.removeFirst()
            configuration = ServerConfiguration(modelPath: first.path)
            configuration.modelSource = first.source
            configuration.modelCache = hubCache
            configuration.aliases = first.alias.map { [$0] } ?? []
            defaultSettings = first.settings
        } else {
            configuration = ServerConfiguration(modelPath: try DefaultModel.path(in: hubCache))
        }
        configuration.offline = try S.offline.resolve(offline, in: environment)
        configuration.hubSettings = try HubSettings.resolve(environment: environment, offline: configuration.offline)
        // Sets, as llama-server keeps them: sorted without repeats, so its model id is the first in order.
        configuration.aliases = Array(Set(configuration.aliases + Self.list(try S.alias.resolve(alias, in: environment))
                                          + (firstAlias.map { [$0] } ?? []))).sorted()
        configuration.otherModels = try specs.dropFirst().map(Self.choice) + directoryModels + presetModels
        configuration.allowModelManagement = try S.allowModelManagement.resolve(allowModelManagement, in: environment)
        // As llama-server's router: the shared cache's models too, named `org/repo:QUANT` (and so
        // the models clients pulled or copied are served again after a restart).
        if modelsDirGiven || configuration.allowModelManagement {
            let known = Set([configuration.modelPath] + configuration.otherModels.map(\.path)
                            + ([configuration.modelSource].compactMap { $0 } + configuration.otherModels.compactMap(\.source))
                                .compactMap { ModelResolver(cache: hubCache, settings: configuration.hubSettings).cachedPath($0) })
            configuration.otherModels += Self.cachedModels(in: hubCache, except: known)
        }
        // Model management may add models at run time: plan memory and share the cache as for several.
        let several = !configuration.otherModels.isEmpty || configuration.allowModelManagement
        if several { configuration.modelCache = configuration.modelCache ?? hubCache }
        configuration.modelsMax = try S.modelsMax.resolve(modelsMax, in: environment)
        // With one model the cgroup limit is the pod's business, as before; only a budget given on purpose applies.
        configuration.memoryBudget = try S.memoryBudget.resolve(memoryBudget, in: environment) ?? (several ? MemoryBudget.cgroupLimit() : nil)
        configuration.keepAlive = try S.keepAlive.resolve(keepAlive, in: environment).duration
        let sleepIdle = try S.sleepIdleSeconds.resolve(sleepIdleSeconds, in: environment)
        configuration.sleepIdle = sleepIdle > 0 ? .seconds(sleepIdle) : nil
        configuration.modelsAutoload = try !S.noModelsAutoload.resolve(noModelsAutoload, in: environment)
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
            // Each model's prompt cache would size itself from the same free memory, outside the budget
            // the models are planned against: with several, only a --cache-ram given on purpose.
            promptCache: several ? try S.cacheRam.setting.resolve(cacheRam, in: environment) ?? .off
                                 : try S.cacheRam.resolve(cacheRam, in: environment),
            slotSavePath: try S.slotSavePath.resolve(slotSavePath, in: environment))
        configuration.engine.embeddingPooling = try S.pooling.resolve(pooling, in: environment)
        configuration.engine.speculation = try speculation(in: environment, hubCache: hubCache,
                                                           hubSettings: configuration.hubSettings, several: several)
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
        // The default model from a preset keeps its section's settings (its prompt cache as a default model's).
        defaultSettings?.engine.promptCache = configuration.engine.promptCache
        defaultSettings?.apply(to: &configuration)
        try configuration.validate()
        return configuration
    }

    /// The models of a `--models-preset` file, in its order. Each section's settings are resolved as
    /// this command's: its flags over the section over `[*]` over the process environment (without the
    /// process's own model, models directory or preset). The model is the section's `model` or
    /// `hf-repo`, else its name (`org/repo:QUANT`); the section's name is its alias. An error names the
    /// file and the section.
    private func models(of preset: ModelsPreset, file: String, environment: [String: String], cache: HubCache) throws -> [ModelChoice] {
        typealias S = ServeSettings
        let selecting = S.model.environment + S.hfRepo.environment + S.hfFile.environment + S.modelsDir.environment
            + S.modelsPreset.environment
        let base = environment.filter { !selecting.contains($0.key) }
        return try preset.entries.map { entry in
            let own = preset.environment(for: entry.name, over: base)
            var options = self
            options.hfRepo = nil
            options.hfFile = nil
            options.modelsDir = nil
            options.modelsPreset = nil
            let named = (S.model.environment + S.hfRepo.environment).contains { own[$0] != nil }
            options.slots.compute.models = named ? [] : [entry.name]
            do {
                let model = try options.resolve(environment: own, cache: cache)
                var settings = ModelSettings(of: model, loadOnStartup: entry.loadOnStartup)
                // Beside other models, as for every -m: a prompt cache only when --cache-ram is given.
                settings.engine.promptCache = try S.cacheRam.setting.resolve(cacheRam, in: own) ?? .off
                return ModelChoice(alias: entry.name, path: model.modelSource == nil ? model.modelPath : "",
                                   source: model.modelSource, settings: settings)
            } catch let error as InputError {
                throw InputError("--models-preset \(file), [\(entry.name)]: \(error.message)", recovery: error.recovery)
            } catch {
                throw InputError("--models-preset \(file), [\(entry.name)]: \(Self.message(for: error))",
                                 recovery: "fix the section's model (model = PATH, hf-repo = ORG/REPO[:QUANT], or a section named ORG/REPO:QUANT) or its settings")
            }
        }
    }

    /// `--models-dir`: each GGUF in the directory, sorted, named by its file name without `.gguf`; of a
    /// split model only its first part (llama.cpp loads the rest), and no multimodal projectors.
    static func models(in directory: String) throws -> [ModelChoice] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue,
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw InputError("--models-dir \(directory) is not a readable directory", recovery: "give the directory that holds the .gguf files")
        }
        let models = names.sorted().filter { name in
            name.lowercased().hasSuffix(".gguf") && !name.lowercased().hasPrefix("mmproj")
                && (ModelResolver.splitShards(of: name).map { $0.first == name } ?? true)
        }
        guard !models.isEmpty else {
            throw InputError("--models-dir \(directory) holds no .gguf file", recovery: "put the models there (gemmactl pull, then copy), or leave --models-dir out")
        }
        return models.map { name in
            ModelChoice(alias: String(name.dropLast(5)), path: URL(fileURLWithPath: directory).appendingPathComponent(name).path)
        }
    }

    /// The shared cache's models, as llama-server's router lists them beside `--models-dir`: each GGUF
    /// whose file name carries a quantization (`…-Q4_K_M.gguf`), once per `org/repo:QUANT`, without
    /// projectors or draft models, and none at a path already served.
    static func cachedModels(in cache: HubCache, except known: Set<String>) -> [ModelChoice] {
        var seen = Set<String>()
        return cache.listModels().compactMap { model in
            guard !known.contains(model.path) else { return nil }
            if let reference = model.ollamaReference, case .ollama(let namespace, let name, let tag) = reference {
                let id = namespace == "library" ? "\(name):\(tag)" : "\(namespace)/\(name):\(tag)"
                guard seen.insert(id).inserted else { return nil }
                return ModelChoice(alias: id, path: "", source: reference, foundInCache: true)
            }
            let name = model.file.lowercased()
            // A split model counts by its first shard, once all its shards are there (`shards`).
            let split = ModelResolver.splitShards(of: model.file) != nil
            guard let quant = HubCache.quantization(fileName: model.file), !known.contains(model.path), !split || model.shards != nil,
                  !["mmproj", "mtp-", "eagle3-", "dflash-", "dspark-"].contains(where: name.contains) else { return nil }
            let id = "\(model.repo):\(quant)"
            guard seen.insert(id).inserted else { return nil }
            return ModelChoice(alias: id, path: model.path, foundInCache: true)
        }
    }

    /// A further `-m`: a file that must exist, or a registry model taken from the cache (or
    /// downloaded) when it is first loaded.
    private static func choice(_ spec: ModelSpec) throws -> ModelChoice {
        let reference = try ModelReference.parse(spec.reference, preferRepository: true)
        if case .file(let path) = reference {
            guard FileManager.default.fileExists(atPath: path) else {
                let error = GGUFError(.notFound, path: path, "")
                throw InputError(error.message, recovery: error.recovery)
            }
            return ModelChoice(alias: spec.alias, path: path)
        }
        return ModelChoice(alias: spec.alias, path: "", source: reference)
    }

    /// A comma-separated setting's entries, trimmed, empty ones dropped (llama-server's rule).
    /// `--spec-type`, `-md` and the draft limits, checked together: draft-simple and a draft model
    /// come together (a draft model adds draft-simple to the default types).
    private func speculation(in environment: [String: String], hubCache: HubCache, hubSettings: HubSettings,
                             several: Bool) throws -> SpeculationOptions {
        typealias S = ServeSettings
        let typesGiven = try S.specType.setting.resolve(specType, in: environment)
        var options = SpeculationOptions(types: try S.specType.resolve(specType, in: environment),
                                         draftMax: try S.specDraftMax.resolve(specDraftMax, in: environment),
                                         draftMin: try S.specDraftMin.resolve(specDraftMin, in: environment))
        if options.draftMin > options.draftMax {
            throw InputError("--spec-draft-n-min (\(options.draftMin)) must be at most --spec-draft-n-max (\(options.draftMax))")
        }
        let draftType = SpeculationOptions.draftModelType
        guard let draft = try S.specDraftModel.resolve(specDraftModel, in: environment) else {
            if options.types.contains(draftType) {
                throw InputError("--spec-type \(draftType) needs a draft model", recovery: "pass --spec-draft-model (-md) PATH, a smaller model with the same vocabulary")
            }
            return options
        }
        if several {
            throw InputError("--spec-draft-model drafts for one model; it cannot be used with several models or --allow-model-management",
                             recovery: "serve the model it drafts for alone, or leave -md out")
        }
        if !options.isOn {
            throw InputError("--spec-draft-model is given but speculation is off (--spec-type none or --spec-draft-n-max 0)",
                             recovery: "leave -md out, or turn speculation on")
        }
        if !options.types.contains(draftType) {
            guard typesGiven == nil else {
                throw InputError("--spec-draft-model is given but --spec-type does not name \(draftType)",
                                 recovery: "add \(draftType) to --spec-type, or leave -md out")
            }
            options.types.append(draftType)
        }
        options.draftModel = try Self.draftModelPath(draft, hubCache: hubCache, hubSettings: hubSettings)
        return options
    }

    /// A draft model's file: a path that exists, or a registry model already in the cache.
    private static func draftModelPath(_ text: String, hubCache: HubCache, hubSettings: HubSettings) throws -> String {
        let reference = try ModelReference.parse(text, preferRepository: true)
        if case .file(let path) = reference {
            guard FileManager.default.fileExists(atPath: path) else {
                throw InputError("--spec-draft-model: \(path) does not exist", recovery: "pass the draft model's GGUF path")
            }
            return path
        }
        guard let path = ModelResolver(cache: hubCache, settings: hubSettings).cachedPath(reference) else {
            throw InputError("--spec-draft-model: \(reference) is not in the model cache (\(hubCache.root.path))",
                             recovery: "pull it first: gemmactl pull \(text)")
        }
        return path
    }

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
