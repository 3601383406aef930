import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the model over an OpenAI- and Ollama-compatible HTTP API with API-key auth.",
            discussion: """
                llama.cpp runs in this process; no llama-server or auth sidecar is needed. /health is public, \
                every other endpoint needs `Authorization: Bearer KEY` (or `x-api-key: KEY`). Keys come from \
                GEMMA_API_KEY / LLAMA_API_KEY (comma-separated) and --api-key-file (one per line, re-read when \
                it changes, so keys rotate without a restart). Flags take llama-server's names, and each \
                setting also reads llama-server's LLAMA_ARG_* variable where llama-server has one.

                Examples:
                  GEMMA_API_KEY=secret gemmactl serve --port 8000
                  gemmactl serve -m ./gemma-3-1b-it-Q4_K_M.gguf -c 8192 -np 2 --host 0.0.0.0 --api-key-file /etc/gemma/keys
                  curl -H "Authorization: Bearer secret" localhost:8000/v1/chat/completions \\
                    -d '{"messages":[{"role":"user","content":"Hello"}]}'
                """
        )

        @OptionGroup var options: ServeOptions
        @Option(name: .customLong("debug-load-delay"), help: ArgumentHelp("Wait this long before loading the model (tests).", visibility: .hidden),
                transform: ArgumentValue.duration)
        var debugLoadDelay: Duration?
        @OptionGroup var logging: Flags.Logging
        @Flag(ServeSettings.verbose) var verbose: Bool

        func run() async throws {
            let verbose = try ServeSettings.verbose.resolve(verbose, in: ProcessInfo.processInfo.environment)
            try logging.bootstrap(default: verbose ? .debug : .info)
            var configuration = try options.resolve(environment: ProcessInfo.processInfo.environment)
            configuration.verboseAnswers = verbose
            if configuration.offline, let source = configuration.modelSource {
                // Before listening: a model missing from the cache is a start-up error that names it.
                _ = try await ModelResolver(cache: configuration.modelCache!, settings: configuration.hubSettings).resolve(source)
            }
            let server = try GemmaServer(configuration: configuration)
            let beforeLoad: (@Sendable () async -> Void)? = debugLoadDelay.map { delay in
                { @Sendable in try? await Task.sleep(for: delay) }
            }
            try await server.run(beforeLoad: beforeLoad)
        }
    }
}
