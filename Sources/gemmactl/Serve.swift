import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the model over an OpenAI- and Ollama-compatible HTTP API with API-key auth.",
            discussion: """
                llama.cpp runs in this process; no llama-server or auth sidecar is needed. /health is public,
                every other endpoint needs `Authorization: Bearer KEY` (or `x-api-key: KEY`). Keys come from
                GEMMA_API_KEY / LLAMA_API_KEY (comma-separated) and --api-key-file (one per line, re-read when
                it changes, so keys rotate without a restart). Flags take llama-server's names.

                Examples:
                  GEMMA_API_KEY=secret gemmactl serve --port 8000
                  gemmactl serve -m ./gemma-3-1b-it-Q4_K_M.gguf -c 8192 -np 2 --host 0.0.0.0 --api-key-file /etc/gemma/keys
                  curl -H "Authorization: Bearer secret" localhost:8000/v1/chat/completions \\
                    -d '{"messages":[{"role":"user","content":"Hello"}]}'
                """
        )

        @Option(name: [.customShort("m"), .long], help: "GGUF model path (default: the cached Gemma 3 270M Q4_K_M). [environment: GEMMA_MODEL]")
        var model: String?
        @Option(name: .customLong("hf-repo"), help: "Hugging Face repo of the model, with --hf-file. [environment: GEMMA_HF_REPO]")
        var hfRepo: String?
        @Option(name: .customLong("hf-file"), help: "GGUF file in --hf-repo. [environment: GEMMA_HF_FILE]")
        var hfFile: String?
        @Option(help: "Model id in responses (default: the file name). [environment: GEMMA_ALIAS]")
        var alias: String?
        @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "Context size in tokens, shared by the slots (default 4096). [environment: GEMMA_CTX_SIZE]")
        var contextSize: Int?
        @Option(name: [.customLong("parallel"), .customLong("np", withSingleDash: true)], help: "Slots: requests served at once (default 4). [environment: GEMMA_PARALLEL]")
        var parallel: Int?
        @Option(name: [.customShort("t"), .long], help: "CPU threads for generation (default: the CPUs this process may use). [environment: GEMMA_THREADS]")
        var threads: Int?
        @Option(name: .customLong("threads-batch"), help: "CPU threads for prompt processing (default: --threads). [environment: GEMMA_THREADS_BATCH]")
        var threadsBatch: Int?
        @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Most tokens per decode step (default 512). [environment: GEMMA_BATCH_SIZE]")
        var batchSize: Int?
        @Option(name: [.customLong("ubatch-size"), .customLong("ub", withSingleDash: true)], help: "Most tokens llama.cpp computes at once within a step; sizes the compute buffer (default: --batch-size, at most 512). [environment: GEMMA_UBATCH_SIZE]")
        var microBatchSize: Int?
        @Option(name: [.customLong("n-gpu-layers"), .customLong("ngl", withSingleDash: true)], help: "Layers offloaded to a GPU (default 0). [environment: GEMMA_N_GPU_LAYERS]")
        var gpuLayers: Int?
        @Option(help: "Address to listen on (default 127.0.0.1). [environment: GEMMA_HOST]")
        var host: String?
        @Option(help: "Port to listen on (default 8000; 0 picks a free one). [environment: GEMMA_PORT]")
        var port: Int?
        @Option(name: .customLong("api-key-file"), help: "File of API keys, one per line, # comments. [environment: GEMMA_API_KEY_FILE]")
        var apiKeyFile: String?
        @Flag(name: .customLong("no-auth"), help: "Serve without API keys, even on a non-loopback address. [environment: GEMMA_NO_AUTH]")
        var noAuth = false
        @Option(name: .customLong("max-body-size"), help: "Largest request body, e.g. 8MiB (default). [environment: GEMMA_MAX_BODY_SIZE]")
        var maxBodySize: String?
        @Option(name: .customLong("cors-origins"), help: "Origins whose web pages may call the API, comma-separated, or * for any (default: none, stricter than llama-server's *). [environment: GEMMA_CORS_ORIGINS]")
        var corsOrigins: String?
        @Option(name: .customLong("max-queue"), help: "Requests that may wait for a slot before 503 (default 64). [environment: GEMMA_MAX_QUEUE]")
        var maxQueue: Int?
        @Option(name: .customLong("request-timeout"), help: "Longest a request may take, e.g. 10m (default: none). [environment: GEMMA_REQUEST_TIMEOUT]")
        var requestTimeout: String?
        @Option(name: .customLong("shutdown-grace"), help: "Time requests in flight get to finish on SIGTERM (default 30s). [environment: GEMMA_SHUTDOWN_GRACE]")
        var shutdownGrace: String?
        @Option(name: .customLong("sse-ping-interval"), help: "Keep-alive comment interval on quiet streams (default 15s). [environment: GEMMA_SSE_PING_INTERVAL]")
        var ssePingInterval: String?
        @Option(name: .customLong("metrics-port"), help: "Also serve /metrics without auth on this port, for Prometheus. [environment: GEMMA_METRICS_PORT]")
        var metricsPort: Int?
        @Flag(help: "Take a registry model (-m ORG/REPO[:QUANT], --hf-repo, ollama://) from the cache only, never the network. [environment: LLAMA_OFFLINE]")
        var offline = false
        @Flag(name: .customLong("log-prompts"), help: "Log prompt text (off: prompts never reach the logs). [environment: GEMMA_LOG_PROMPTS]")
        var logPrompts = false
        @Flag(help: "Batch-invariant greedy output: llama.cpp's reference CPU kernels and no weight repacking, so a request's greedy text is the same alone or batched with others, at a cost in speed (see BENCHMARKS.md). [environment: GEMMA_DETERMINISTIC]")
        var deterministic = false
        @Option(name: [.customLong("cache-ram"), .customLong("cram", withSingleDash: true)], help: "Host memory in MiB for prompt states whose slot moved on, restored when a conversation returns; -1: no limit, 0: off (default: 8192, at most half of what the memory limit leaves). [environment: GEMMA_CACHE_RAM, LLAMA_ARG_CACHE_RAM]")
        var cacheRam: Int?
        @Option(name: .customLong("slot-save-path"), help: "Directory where slots are saved on shutdown and restored from on start, e.g. on the model volume. [environment: GEMMA_SLOT_SAVE_PATH, LLAMA_ARG_SLOT_SAVE_PATH]")
        var slotSavePath: String?
        @Option(name: .customLong("debug-load-delay"), help: ArgumentHelp("Wait this long before loading the model (tests).", visibility: .hidden))
        var debugLoadDelay: String?
        @OptionGroup var logging: Flags.Logging

        func run() async throws {
            try logging.bootstrap(default: .info)
            var inputs = ServeInputs()
            inputs.model = model; inputs.hfRepo = hfRepo; inputs.hfFile = hfFile; inputs.alias = alias
            inputs.contextSize = contextSize; inputs.parallel = parallel; inputs.threads = threads
            inputs.threadsBatch = threadsBatch; inputs.batchSize = batchSize; inputs.microBatchSize = microBatchSize
            inputs.gpuLayers = gpuLayers
            inputs.host = host; inputs.port = port; inputs.apiKeyFile = apiKeyFile; inputs.noAuth = noAuth
            inputs.maxBodySize = maxBodySize; inputs.corsOrigins = corsOrigins; inputs.maxQueue = maxQueue; inputs.requestTimeout = requestTimeout
            inputs.shutdownGrace = shutdownGrace; inputs.ssePingInterval = ssePingInterval
            inputs.metricsPort = metricsPort; inputs.logPrompts = logPrompts
            inputs.deterministic = deterministic; inputs.cacheRam = cacheRam; inputs.slotSavePath = slotSavePath
            inputs.offline = offline
            let configuration = try inputs.resolve()
            if configuration.offline, let source = configuration.modelSource {
                // Before listening: a model missing from the cache is a start-up error that names it.
                _ = try await ModelResolver(cache: configuration.modelCache ?? .resolve(),
                                            settings: HubSettings.resolve(offline: true)).resolve(source)
            }
            let delay = try debugLoadDelay.map { try DurationText.parse($0, field: "--debug-load-delay") }
            let server = try GemmaServer(configuration: configuration)
            let beforeLoad: (@Sendable () async -> Void)? = delay.map { delay in
                { @Sendable in try? await Task.sleep(for: delay) }
            }
            try await server.run(beforeLoad: beforeLoad)
        }
    }
}
