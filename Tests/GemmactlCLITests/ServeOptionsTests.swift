import Foundation
import GemmaKit
@testable import GemmactlCommands
import Testing

@Suite("Serve options")
struct ServeOptionsTests {
    static let model = try! DefaultModel.path(in: .resolve(environment: ProcessInfo.processInfo.environment))

    private func resolve(_ environment: [String: String], deterministic: Bool = false, cacheRam: Int? = nil,
                         slotSavePath: String? = nil) throws -> ServerConfiguration {
        var arguments = ["-m", Self.model]
        if deterministic { arguments.append("--deterministic") }
        if let cacheRam { arguments += ["-cram", String(cacheRam)] }
        if let slotSavePath { arguments += ["--slot-save-path", slotSavePath] }
        return try ServeOptions.parse(arguments).resolve(environment: environment)
    }

    private func options(_ arguments: [String]) throws -> ServeOptions { try ServeOptions.parse(arguments) }

    @Test func fastKernelsAndRepackedWeightsAreTheDefault() throws {
        let configuration = try resolve([:])
        #expect(!configuration.engine.context.batchInvariant)
        #expect(configuration.repackWeights)
    }

    @Test func deterministicComesFromTheFlagOrTheEnvironment() throws {
        for configuration in [try resolve([:], deterministic: true), try resolve(["GEMMA_DETERMINISTIC": "1"])] {
            #expect(configuration.engine.context.batchInvariant)
            #expect(!configuration.repackWeights)
        }
        #expect(try !resolve(["GEMMA_DETERMINISTIC": "off"]).engine.context.batchInvariant)
        #expect(throws: InputError.self) { try resolve(["GEMMA_DETERMINISTIC": "maybe"]) }
    }

    @Test func cacheRamTakesLlamaServersValues() throws {
        #expect(try resolve([:]).engine.promptCache == .automatic)
        #expect(try resolve([:], cacheRam: 0).engine.promptCache == .off)
        #expect(try resolve(["LLAMA_ARG_CACHE_RAM": "-1"]).engine.promptCache == .unlimited)
        #expect(try options(["-m", Self.model, "--cache-ram", "-1"]).resolve(environment: [:]).engine.promptCache == .unlimited)
        #expect(try resolve(["GEMMA_CACHE_RAM": "256"], cacheRam: 512).engine.promptCache == .mebibytes(512))
        #expect(throws: (any Error).self) { try resolve([:], cacheRam: -5) }
        #expect(throws: InputError.self) { try resolve(["LLAMA_ARG_CACHE_RAM": "lots"]) }
    }

    @Test func severalModelsEachWithAnOptionalAlias() throws {
        let configuration = try options(["-m", "chat=" + Self.model, "-m", Self.model, "-m", "other=" + Self.model,
                                         "--models-max", "2", "--memory-budget", "3Gi", "--keep-alive", "10m"]).resolve(environment: [:])
        #expect(configuration.aliases == ["chat"])
        #expect(configuration.modelPath == Self.model)
        #expect(configuration.otherModels == [ModelChoice(path: Self.model), ModelChoice(alias: "other", path: Self.model)])
        #expect(configuration.modelsMax == 2)
        #expect(configuration.memoryBudget == 3 << 30)
        #expect(configuration.keepAlive == .seconds(600))
        #expect(configuration.modelsAutoload)
        #expect(configuration.engine.promptCache == .off)
        // Ollama's variable and its "keep" value; the ids must differ.
        #expect(try options(["-m", "a=" + Self.model, "-m", "b=" + Self.model, "--no-models-autoload"])
            .resolve(environment: ["OLLAMA_KEEP_ALIVE": "-1"]).keepAlive == nil)
        #expect(try options(["-m", "a=" + Self.model, "-m", "b=" + Self.model]).resolve(environment: [:]).keepAlive == .seconds(300))
        #expect { try options(["-m", "a=" + Self.model, "-m", "a=" + Self.model]).resolve(environment: [:]) }
            throws: { ServeOptions.message(for: $0).contains("'a'") }
        #expect { try options(["-m", Self.model, "-m", "/no/such.gguf"]).resolve(environment: [:]) }
            throws: { ServeOptions.message(for: $0).contains("/no/such.gguf") }
        #expect { try options(["-m", Self.model, "--keep-alive", "soon"]) } throws: { ServeOptions.message(for: $0).contains("--keep-alive") }
        #expect(try resolve(["LLAMA_ARG_SLEEP_IDLE_SECONDS": "30"]).sleepIdle == .seconds(30))
        #expect(try resolve([:]).sleepIdle == nil)
        #expect { try options(["-m", Self.model, "--sleep-idle-seconds", "0"]) } throws: { ServeOptions.message(for: $0).contains("--sleep-idle-seconds") }
        #expect { try options(["-m", Self.model, "-m", "b=" + Self.model, "--sleep-idle-seconds", "9"]).resolve(environment: [:]) }
            throws: { ServeOptions.message(for: $0).contains("--keep-alive") }
        // A single model: no budget unless given, so nothing changes for it.
        #expect(try resolve([:]).memoryBudget == nil)
        #expect(try resolve([:]).otherModels.isEmpty)
    }

    @Test func modelsDirServesEveryGGUFByItsStem() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("models-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["b.gguf", "a.gguf", "mmproj-a.gguf", "big-00001-of-00002.gguf", "big-00002-of-00002.gguf", "notes.txt"] {
            try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent(name).path, withDestinationPath: Self.model)
        }
        let emptyCache = HubCache(root: directory.appendingPathComponent("no-cache"))
        let alone = try options(["--models-dir", directory.path]).resolve(environment: [:], cache: emptyCache)
        #expect(alone.aliases == ["a"])
        #expect(alone.otherModels.map(\.alias) == ["b", "big-00001-of-00002"])
        let withModel = try options(["-m", "main=" + Self.model]).resolve(environment: ["LLAMA_ARG_MODELS_DIR": directory.path],
                                                                          cache: emptyCache)
        #expect(withModel.aliases == ["main"])
        #expect(withModel.otherModels.map(\.alias) == ["a", "b", "big-00001-of-00002"])
        #expect { try options(["--models-dir", "/no/such/dir"]).resolve(environment: [:]) }
            throws: { ServeOptions.message(for: $0).contains("/no/such/dir") }
    }

    @Test func modelsDirAlsoServesTheSharedCachesModelsAsLlamaServersRouterDoes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("models-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("dir"), cache = HubCache(root: root.appendingPathComponent("hub"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("local.gguf").path, withDestinationPath: Self.model)
        func cached(_ repo: String, _ files: [String]) throws -> [String] {
            let commit = String(repeating: "c", count: 40)
            let snapshot = cache.repoDirectory(repo).appendingPathComponent("snapshots/\(commit)")
            try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: cache.repoDirectory(repo).appendingPathComponent("refs"), withIntermediateDirectories: true)
            try commit.write(to: cache.repoDirectory(repo).appendingPathComponent("refs/main"), atomically: true, encoding: .utf8)
            return try files.map { file in
                let path = snapshot.appendingPathComponent(file).path
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: Self.model)
                return path
            }
        }
        // Listed: one per org/repo:QUANT; not listed: projectors, files without a quant, what is served already.
        _ = try cached("org/chat-GGUF", ["chat-Q4_K_M.gguf", "chat-Q8_0.gguf", "mmproj-chat-Q8_0.gguf", "chat.gguf"])
        let served = try cached("org/served-GGUF", ["served-Q4_K_M.gguf"])[0]
        let configuration = try options(["-m", served, "--models-dir", directory.path]).resolve(environment: [:], cache: cache)
        #expect(configuration.otherModels.map(\.alias) == ["local", "org/chat-GGUF:Q4_K_M", "org/chat-GGUF:Q8_0"])
        #expect(configuration.otherModels.map(\.foundInCache) == [false, true, true])
        #expect(configuration.servedModels.map(\.modelID) == ["served-Q4_K_M", "local", "org/chat-GGUF:Q4_K_M", "org/chat-GGUF:Q8_0"])
        // Without --models-dir the cache is not served: only what is named.
        #expect(try options(["-m", served]).resolve(environment: [:], cache: cache).otherModels.isEmpty)
    }

    @Test func aModelsPresetGivesEachModelItsOwnSettings() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("models-preset-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = HubCache(root: root.appendingPathComponent("hub"))
        func preset(_ text: String) throws -> String {
            let path = root.appendingPathComponent("preset-\(UUID().uuidString).ini").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let file = try preset("""
            version = 1
            [*]
            c = 2048
            temp = 0.5
            [chat]
            model = \(Self.model)
            parallel = 3
            load-on-startup = true
            [embed]
            model = \(Self.model)
            ctx-size = 1024
            no-jinja = true
            port = 9999
            """)
        let served = try options(["-m", "main=" + Self.model, "--models-preset", file]).resolve(environment: [:], cache: cache)
        #expect(served.aliases == ["main"])
        #expect(served.engine.context.contextSize == 4096 && served.loadOnStartup == false)
        let models = served.servedModels
        #expect(models.map(\.modelID) == ["main", "chat", "embed"])
        #expect(models.map(\.modelPath) == [Self.model, Self.model, Self.model])
        #expect(models.map(\.engine.context.contextSize) == [4096, 2048, 1024])
        #expect(models.map(\.engine.context.sequences) == [4, 3, 4])
        #expect(models.map(\.loadOnStartup) == [false, true, false])
        #expect(models.map(\.samplingDefaults.sampling.temperature) == [served.samplingDefaults.sampling.temperature, 0.5, 0.5])
        #expect(models.map(\.chatTemplate.jinja) == [served.chatTemplate.jinja, served.chatTemplate.jinja, false])
        // Beside other models a prompt cache only when --cache-ram is given; the port stays the server's.
        #expect(models.allSatisfy { $0.engine.promptCache == .off })
        #expect(models.allSatisfy { $0.port == served.port })
        // The command line wins over a section (llama-server's precedence).
        let flagged = try options(["-m", "main=" + Self.model, "--models-preset", file, "-c", "512"]).resolve(environment: [:], cache: cache)
        #expect(flagged.servedModels.map(\.engine.context.contextSize) == [512, 512, 512])
        // Without -m the first section is the default model, with its own settings.
        let alone = try options(["--models-preset", file]).resolve(environment: [:], cache: cache)
        #expect(alone.servedModels.map(\.modelID) == ["chat", "embed"])
        #expect(alone.engine.context.sequences == 3 && alone.loadOnStartup)
        // A section takes its own model, never the server's from the environment.
        let fromEnvironment = try options(["--models-preset", file]).resolve(environment: ["LLAMA_ARG_MODEL": "main=" + Self.model], cache: cache)
        #expect(fromEnvironment.servedModels.map(\.modelID) == ["main", "chat", "embed"])
        // A section's model that is not there names the file and the section; a missing file names the flag.
        let broken = try preset("[custom]\nc = 1024\n")
        #expect { try options(["--models-preset", broken]).resolve(environment: [:], cache: cache) }
            throws: { ServeOptions.message(for: $0).contains("--models-preset \(broken), [custom]") }
        #expect { try options(["--models-preset", "/no/such.ini"]).resolve(environment: [:], cache: cache) }
            throws: { ServeOptions.message(for: $0).contains("--models-preset /no/such.ini") }
    }

    @Test func speculationIsOnByDefaultAndTakesLlamaServersFlags() throws {
        #expect(try resolve([:]).engine.speculation == .automatic)
        #expect(try resolve(["LLAMA_ARG_SPEC_TYPE": "none"]).engine.speculation.isOn == false)
        let chosen = try options(["-m", Self.model, "--spec-type", "ngram-simple,ngram-map-k", "--spec-draft-n-max", "8",
                                  "--spec-draft-n-min", "2"]).resolve(environment: [:]).engine.speculation
        #expect(chosen == SpeculationOptions(types: ["ngram-simple", "ngram-map-k"], draftMax: 8, draftMin: 2))
        #expect(try resolve(["LLAMA_ARG_SPEC_DRAFT_N_MAX": "0"]).engine.speculation.isOn == false)
        // Bad values name the flag (or the variable).
        for arguments in [["--spec-type", "ngram-fast"], ["--spec-type", "draft-mtp"], ["--spec-draft-n-max", "-1"]] {
            #expect { try options(["-m", Self.model] + arguments) } throws: { ServeOptions.message(for: $0).contains(arguments[0]) }
        }
        #expect { try resolve(["LLAMA_ARG_SPEC_TYPE": "fast"]) } throws: { ServeOptions.message(for: $0).contains("LLAMA_ARG_SPEC_TYPE") }
        #expect { try options(["-m", Self.model, "--spec-draft-n-min", "9", "--spec-draft-n-max", "4"]).resolve(environment: [:]) }
            throws: { ServeOptions.message(for: $0).contains("--spec-draft-n-min") }
    }

    @Test func aDraftModelAddsDraftSimpleAndIsCheckedWithTheOtherSpeculationFlags() throws {
        func speculation(_ arguments: [String], environment: [String: String] = [:]) throws -> SpeculationOptions {
            try options(["-m", Self.model] + arguments).resolve(environment: environment).engine.speculation
        }
        #expect(try speculation(["-md", Self.model])
                == SpeculationOptions(types: ["ngram-simple", "draft-simple"], draftModel: Self.model))
        #expect(try speculation(["--spec-type", "draft-simple", "--model-draft", Self.model]).types == ["draft-simple"])
        #expect(try speculation([], environment: ["LLAMA_ARG_SPEC_DRAFT_MODEL": Self.model]).draftModel == Self.model)
        // Each mistake names the flag, and what to do.
        let mistakes: [([String], String)] = [
            (["--spec-type", "draft-simple"], "--spec-draft-model"),
            (["-md", "/no/such/draft.gguf"], "--spec-draft-model: /no/such/draft.gguf does not exist"),
            (["-md", Self.model, "--spec-type", "none"], "speculation is off"),
            (["-md", Self.model, "--spec-draft-n-max", "0"], "speculation is off"),
            (["-md", Self.model, "--spec-type", "ngram-mod"], "does not name draft-simple"),
            (["-md", Self.model, "-m", "second=" + Self.model], "several models"),
        ]
        for (arguments, message) in mistakes {
            #expect { try speculation(arguments) } throws: { ServeOptions.message(for: $0).contains(message) }
        }
        // A registry name must already be in the cache: the server does not download a draft model.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-draft-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        #expect {
            try options(["-m", Self.model, "-md", "ggml-org/gemma-3-270m-GGUF:Q8_0"])
                .resolve(environment: [:], cache: HubCache(root: root))
        } throws: { ServeOptions.message(for: $0).contains("gemmactl pull ggml-org/gemma-3-270m-GGUF:Q8_0") }
    }

    @Test func slotSavePathMustBeAWritableDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.path
        #expect(try resolve([:], slotSavePath: directory).engine.slotSavePath == directory)
        #expect(try resolve(["LLAMA_ARG_SLOT_SAVE_PATH": directory]).engine.slotSavePath == directory)
        #expect(throws: ServeError.self) { try resolve([:], slotSavePath: "/nonexistent/gemmactl-slots") }
    }

    @Test func microBatchFollowsLlamaServer() throws {
        func sizes(_ environment: [String: String]) throws -> (Int, Int) {
            let context = try resolve(environment).engine.context
            return (context.batchSize, context.microBatchSize)
        }
        #expect(try sizes([:]) == (512, 512))
        #expect(try sizes(["LLAMA_ARG_BATCH": "2048"]) == (2048, 512))
        #expect(try sizes(["GEMMA_BATCH_SIZE": "128"]) == (128, 128))
        #expect(try sizes(["GEMMA_BATCH_SIZE": "2048", "LLAMA_ARG_UBATCH": "256"]) == (2048, 256))
        #expect(try sizes(["GEMMA_UBATCH_SIZE": "1024"]) == (512, 512))
        #expect {
            _ = try resolve(["GEMMA_UBATCH_SIZE": "0"])
        } throws: { error in
            "\(error)".contains("--ubatch-size")
        }
    }

    @Test func aBadSwitchValueNamesTheVariable() {
        #expect {
            _ = try resolve(["GEMMA_DETERMINISTIC": "sometimes"])
        } throws: { error in
            "\(error)".contains("GEMMA_DETERMINISTIC") && "\(error)".contains("sometimes")
        }
    }

    @Test func modelTakesARepositoryWithAQuantAsPullDoes() throws {
        let configuration = try options(["-m", "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"]).resolve(environment: ["LLAMA_OFFLINE": "1"])
        #expect(configuration.modelSource == .huggingFace(repo: "ggml-org/gemma-3-1b-it-GGUF", file: nil, quant: "Q4_K_M", revision: "main"))
        #expect(configuration.offline)
        #expect(configuration.modelID == "gemma-3-1b-it-GGUF:Q4_K_M")
        // A missing .gguf is still a missing file, not a bad repository name.
        #expect { _ = try options(["-m", "missing-model.gguf"]).resolve(environment: [:]) } throws: { error in "\(error)".contains("missing-model.gguf") }
        #expect { _ = try options(["-m", "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M", "--hf-file", "x.gguf"]).resolve(environment: [:]) } throws: { error in
            "\(error)".contains("--hf-repo")
        }
    }

    @Test func corsOriginsComeFromTheFlagOrLlamaServersVariable() throws {
        #expect(try resolve([:]).corsOrigins.isEmpty)
        #expect(try resolve(["LLAMA_ARG_CORS_ORIGINS": "https://a.example, http://localhost:3000"]).corsOrigins
                == ["https://a.example", "http://localhost:3000"])
        #expect(try resolve(["GEMMA_CORS_ORIGINS": "*"]).corsOrigins == ["*"])
        #expect { _ = try resolve(["GEMMA_CORS_ORIGINS": "https://a.example/path"]) } throws: { error in
            "\(error)".contains("--cors-origins") && "\(error)".contains("https://a.example/path")
        }
    }

    @Test func flagsBeatVariablesBeatDefaults() throws {
        let defaults = try resolve([:])
        #expect(defaults.engine.context.contextSize == 4096 && defaults.engine.context.sequences == 4)
        #expect(defaults.port == 8000 && defaults.hosts == ["127.0.0.1"] && defaults.maxBodySize == 8 << 20)
        #expect(defaults.shutdownGrace == .seconds(30) && defaults.requestTimeout == nil)
        let fromVariables = try resolve(["LLAMA_ARG_CTX_SIZE": "8192", "GEMMA_PARALLEL": "2", "LLAMA_ARG_N_GPU_LAYERS": "0",
                                         "GEMMA_MAX_BODY_SIZE": "1Mi", "GEMMA_REQUEST_TIMEOUT": "2m", "GEMMA_SHUTDOWN_GRACE": "0s"])
        #expect(fromVariables.engine.context.contextSize == 8192 && fromVariables.engine.context.sequences == 2)
        #expect(fromVariables.maxBodySize == 1 << 20 && fromVariables.requestTimeout == .seconds(120) && fromVariables.shutdownGrace == .zero)
        let flags = try options(["-m", Self.model, "-c", "1024", "-np", "1", "--max-body-size", "64Ki", "--request-timeout", "0s"])
            .resolve(environment: ["GEMMA_CTX_SIZE": "8192", "GEMMA_REQUEST_TIMEOUT": "2m"])
        #expect(flags.engine.context.contextSize == 1024 && flags.engine.context.sequences == 1)
        #expect(flags.maxBodySize == 64 << 10 && flags.requestTimeout == nil)
    }

    @Test func badFlagTextIsRefusedWhileParsing() {
        for arguments in [["-c", "big"], ["--request-timeout", "30"], ["--max-body-size", "8MB"], ["--shutdown-grace", "soon"]] {
            #expect(throws: (any Error).self) { try ServeOptions.parse(arguments) }
        }
        #expect { _ = try resolve(["GEMMA_REQUEST_TIMEOUT": "600"]) } throws: { error in
            "\(error)".contains("GEMMA_REQUEST_TIMEOUT") && "\(error)".contains("--request-timeout") && "\(error)".contains("'600'")
        }
    }

    @Test func helpNamesEveryVariableThatIsRead() {
        let help = Gemmactl.helpMessage(for: Gemmactl.Serve.self, columns: 1000)
        for setting in [ServeSettings.contextSize.environment, ServeSettings.gpuLayers.environment, ServeSettings.offline.environment,
                        ServeSettings.cacheRam.environment, ServeSettings.port.environment].joined() {
            #expect(help.contains(setting), "serve --help does not name \(setting)")
        }
        #expect(help.contains("-np") && help.contains("-ngl") && help.contains("-cram"))
    }

    /// Every descriptor in `ServeSettings.all` is an option of serve with its names and help, and every
    /// option of serve comes from a descriptor (but logging's and a hidden test hook).
    @Test func everyDescriptorIsAnOptionAndEveryOptionADescriptor() throws {
        struct Info: Decodable {
            struct Name: Decodable { var kind: String; var name: String }
            struct Argument: Decodable { var names: [Name]?; var abstract: String? }
            struct Command: Decodable { var arguments: [Argument]? }
            var command: Command
        }
        let info = try JSONDecoder().decode(Info.self, from: Data(Gemmactl.Serve._dumpHelp().utf8))
        let options = (info.command.arguments ?? []).map { argument in
            (names: Set((argument.names ?? []).map { $0.kind == "long" ? "--" + $0.name : "-" + $0.name }), help: argument.abstract ?? "")
        }
        for setting in ServeSettings.all {
            let option = options.first { Set(setting.names).isSubset(of: $0.names) }
            #expect(option != nil, "\(setting.names) is not an option of serve")
            #expect(option.map { $0.help == setting.helpText } ?? true, "\(setting.names): help differs from the descriptor's")
        }
        // A default-on switch's --no- spelling is an option of its own in the dump.
        let names = ServeSettings.all.flatMap(\.names)
        let described = Set(names + names.filter { $0.hasPrefix("--") }.map { "--no-" + $0.dropFirst(2) })
        let others: Set<String> = ["--log-level", "--debug-load-delay", "--help", "-h", "--version"]
        for option in options where option.names.isDisjoint(with: described) && option.names.isDisjoint(with: others) {
            Issue.record("serve's option \(option.names.sorted()) has no descriptor in ServeSettings.all")
        }
    }

    /// Every variable of every descriptor is read: a value that is no value is refused naming it (or
    /// its flag, or the value), or it changes the configuration.
    @Test func everyDescriptorsVariablesAreRead() throws {
        let cache = HubCache.resolve(environment: ProcessInfo.processInfo.environment)
        let baseline = "\(try ServeOptions.parse([]).resolve(environment: [:], cache: cache))"
        let junk = "\u{2603} not a value"
        // --verbose is read by serve itself, before logging starts (LlamaServerFlagsTests).
        for setting in ServeSettings.all where setting.names != ServeSettings.verbose.names {
            for variable in setting.environment {
                do {
                    let configuration = try ServeOptions.parse([]).resolve(environment: [variable: junk], cache: cache)
                    #expect("\(configuration)" != baseline, "\(variable) (\(setting.names[0])) changed nothing")
                } catch {
                    let text = "\(error)"
                    #expect(text.contains(variable) || text.contains(setting.names[0]) || text.contains(junk),
                            "\(variable): \(text)")
                }
            }
        }
    }
}
