import ArgumentParser
import Foundation
import GemmaKit
import Logging

/// Option groups shared by several subcommands.
enum Flags {
    static let logLevel = Setting<Logger.Level>(["--log-level"], environment: ["GEMMA_LOG_LEVEL"],
                                                summary: "trace, debug, info, notice, warning, error or critical.") { text throws(InputError) in
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw InputError("must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        return level
    }
    static let url = Setting<String>(["--url"], environment: ["GEMMA_URL"], summary: "The server's base URL.")
        .defaulting(to: "http://127.0.0.1:8000")

    /// Logging for commands that log.
    struct Logging: ParsableArguments {
        @Option(Flags.logLevel) var logLevel: Logger.Level?

        func bootstrap(default level: Logger.Level) throws {
            LogSetup.bootstrap(level: try Flags.logLevel.resolve(logLevel, in: ProcessInfo.processInfo.environment) ?? level)
        }
    }

    /// `--json`, for every command that can print JSON instead of text.
    struct JSONOutput: ParsableArguments {
        @Flag(help: "Print JSON for scripts instead of text.")
        var json = false
    }

    /// How to reach a running server: gemmactl serve, llama-server or Ollama.
    struct Client: ParsableArguments {
        @Option(Flags.url) var url: String?

        @Option(name: .customLong("api-key-file"),
                help: ArgumentHelp("A file whose first key line is the API key (blank and # lines skipped). Otherwise the key comes from GEMMA_API_KEY. [environment: GEMMA_API_KEY]",
                                   valueName: "path"))
        var apiKeyFile: String?

        @Option(help: ArgumentHelp("Limit for each request, e.g. 10s or 2m (default: 10s).", valueName: "duration"),
                transform: ArgumentValue.duration)
        var timeout: Duration = .seconds(10)

        @Flag(help: "Skip TLS certificate verification (for a self-signed test gateway only).")
        var insecure = false

        @OptionGroup var output: JSONOutput
        var json: Bool { output.json }

        func validate() throws {
            guard timeout > .zero else { throw ValidationError("--timeout must be more than 0s") }
        }

        /// The endpoint, resolved once: flags over environment over defaults.
        func endpoint(timeout override: Duration? = nil) throws -> ServerEndpoint {
            let environment = ProcessInfo.processInfo.environment
            let base = try Flags.url.resolve(url, in: environment)
            return try ServerEndpoint(baseURL: base, apiKey: try apiKey(environment: environment),
                                      timeout: override ?? timeout,
                                      insecure: insecure, proxy: ProxySetting.fromEnvironment(for: base, environment: environment))
        }

        /// The key sent: the first key line of --api-key-file, else the first of GEMMA_API_KEY's keys.
        func apiKey(environment: [String: String]) throws -> String? {
            if let apiKeyFile { return try KeysFile.firstKey(path: apiKeyFile, flag: "--api-key-file") }
            // GEMMA_API_KEY may list several keys for serve, comma-separated: a client uses the first.
            return Environment.value("GEMMA_API_KEY", in: environment)?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) }
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

        var cache: HubCache { HubCache.resolve(environment: ProcessInfo.processInfo.environment, override: cacheDir) }
    }

    struct Hub: ParsableArguments {
        @OptionGroup var cacheOption: Cache
        var cacheDir: String? { cacheOption.cacheDir }

        @Option(name: .customLong("token-file"),
                help: ArgumentHelp("File holding a Hugging Face token for gated models. [environment: HF_TOKEN]", valueName: "path"))
        var tokenFile: String?

        @Flag(help: "Use the cache only; never touch the network. [environment: HF_HUB_OFFLINE]")
        var offline = false

        var cache: HubCache { cacheOption.cache }

        /// Settings from the environment (HF_ENDPOINT, OLLAMA_REGISTRY, HF_TOKEN, HF_HUB_OFFLINE) and these flags.
        func settings() throws -> HubSettings {
            try HubSettings.resolve(environment: ProcessInfo.processInfo.environment, tokenFile: tokenFile, offline: offline)
        }
    }
}
