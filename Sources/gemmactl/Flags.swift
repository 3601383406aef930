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
}

extension Flags {
    /// Where models are cached and fetched from.
    struct Hub: ParsableArguments {
        @Option(name: .customLong("cache-dir"),
                help: ArgumentHelp("Model cache folder. Default: as llama.cpp chooses it. [environment: LLAMA_CACHE, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME]",
                                   valueName: "path"))
        var cacheDir: String?

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
