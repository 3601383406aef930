import ArgumentParser
import GemmaKit
import Logging

/// Option groups shared by several subcommands.
enum Flags {
    /// Which model file to load.
    struct Model: ParsableArguments {
        @Option(name: [.short, .customLong("model")],
                help: ArgumentHelp("Path of a GGUF model file. Default: the cached Gemma 3 270M Q4_K_M. [environment: GEMMA_MODEL]",
                                   valueName: "path"))
        var model: String?

        @Option(name: [.customLong("n-gpu-layers"), .customLong("ngl", withSingleDash: true)],
                help: "Layers to offload to a GPU (0 on CPU builds). [environment: GEMMA_N_GPU_LAYERS]")
        var gpuLayers: Int?
    }

    /// Logging for commands that log.
    struct Logging: ParsableArguments {
        @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical. [environment: GEMMA_LOG_LEVEL]")
        var logLevel: String?

        func bootstrap(default level: Logger.Level) throws {
            let chosen = logLevel ?? Environment.value("GEMMA_LOG_LEVEL")
            guard let resolved = chosen.map({ Logger.Level(rawValue: $0.lowercased()) }) ?? level else {
                throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(chosen!)'")
            }
            LogSetup.bootstrap(level: resolved)
        }
    }

    /// How to reach a running server: gemmactl serve, llama-server or Ollama.
    struct Client: ParsableArguments {
        @Option(help: ArgumentHelp("The server's base URL. [environment: GEMMA_URL] (default: http://127.0.0.1:8000)", valueName: "url"))
        var url: String?

        @Option(name: .customLong("api-key-file"),
                help: ArgumentHelp("A file whose first key line is the API key (blank and # lines skipped). Otherwise the key comes from GEMMA_API_KEY. [environment: GEMMA_API_KEY]",
                                   valueName: "path"))
        var apiKeyFile: String?

        @Option(help: ArgumentHelp("Limit for each request, e.g. 10s or 2m.", valueName: "duration"))
        var timeout: String = "10s"

        @Flag(help: "Skip TLS certificate verification (for a self-signed test gateway only).")
        var insecure = false

        @Flag(help: "Print JSON for scripts instead of text.")
        var json = false

        func validate() throws {
            _ = try DurationParser.parse(timeout, field: "--timeout")
        }

        /// The endpoint, resolved once: flags over environment over defaults.
        func endpoint(timeout override: Duration? = nil) throws -> ServerEndpoint {
            let base = url ?? Environment.value("GEMMA_URL") ?? "http://127.0.0.1:8000"
            return try ServerEndpoint(baseURL: base, apiKey: try apiKey(),
                                      timeout: override ?? DurationParser.parse(timeout, field: "--timeout"),
                                      insecure: insecure, proxy: ProxySetting.fromEnvironment(for: base))
        }

        func apiKey() throws -> String? {
            if let apiKeyFile {
                let text = String(decoding: try AtomicFile.read(apiKeyFile, what: "API key file"), as: UTF8.self)
                let key = KeysFile.keyLines(text).first
                guard let key else {
                    throw OpsError(.noKey, "--api-key-file \(apiKeyFile) holds no key (only blank or # lines)",
                                   recovery: "put the key on a line of its own")
                }
                return key
            }
            // GEMMA_API_KEY may list several keys for serve, comma-separated: a client uses the first.
            return Environment.value("GEMMA_API_KEY")?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }
}

extension Flags {
    /// Where models are cached and fetched from.
    /// The model cache folder, for commands that read or write it.
    struct Cache: ParsableArguments {
        @Option(name: .customLong("cache-dir"),
                help: ArgumentHelp("Model cache folder. Default: as llama.cpp chooses it. [environment: LLAMA_CACHE, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME]",
                                   valueName: "path"))
        var cacheDir: String?

        var cache: HubCache { HubCache.resolve(override: cacheDir) }
    }

    struct Hub: ParsableArguments {
        @OptionGroup var cacheOption: Cache
        var cacheDir: String? { cacheOption.cacheDir }

        @Option(name: .customLong("token-file"),
                help: ArgumentHelp("File holding a Hugging Face token for gated models. [environment: HF_TOKEN]", valueName: "path"))
        var tokenFile: String?

        @Flag(help: "Use the cache only; never touch the network. [environment: HF_HUB_OFFLINE]")
        var offline = false

        var cache: HubCache { HubCache.resolve(override: cacheDir) }

        /// Settings from the environment (HF_ENDPOINT, OLLAMA_REGISTRY, HF_TOKEN, HF_HUB_OFFLINE) and these flags.
        func settings() throws -> HubSettings {
            try HubSettings.resolve(tokenFile: tokenFile, offline: offline)
        }
    }
}
