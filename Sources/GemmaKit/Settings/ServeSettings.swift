import Foundation

/// Every `gemmactl serve` setting, one descriptor each (see `Setting`). Each reads GEMMA_* and,
/// where llama-server has the setting, its LLAMA_ARG_* variable, so a Deployment's env carries
/// over. `plan`, `doctor` and `generate` take the model and compute settings from here too, so a
/// default is written once.
public enum ServeSettings {
    // The model and its compute: shared with plan, doctor and generate.
    public static let model = Setting<String>(["--model", "-m"], environment: ["GEMMA_MODEL", "LLAMA_ARG_MODEL"],
        defaultNote: "the cached Gemma 3 270M Q4_K_M",
        summary: "GGUF model: a path, ORG/REPO[:QUANT] or ollama://NAME:TAG.")
    public static let contextSize = Setting<Int>(["--ctx-size", "-c"], environment: ["GEMMA_CTX_SIZE", "LLAMA_ARG_CTX_SIZE"],
        default: 4096, summary: "Context size in tokens, shared by the slots.")
    public static let parallel = Setting<Int>(["--parallel", "-np"], environment: ["GEMMA_PARALLEL", "LLAMA_ARG_N_PARALLEL"],
        default: 4, summary: "Slots: requests served at once.")
    public static let threads = Setting<Int>(["--threads", "-t"], environment: ["GEMMA_THREADS", "LLAMA_ARG_THREADS"],
        defaultNote: "the CPUs this process may use", summary: "CPU threads for generation.")
    public static let batchSize = Setting<Int>(["--batch-size", "-b"], environment: ["GEMMA_BATCH_SIZE", "LLAMA_ARG_BATCH"],
        default: 512, summary: "Most tokens per decode step.")
    public static let microBatchSize = Setting<Int>(["--ubatch-size", "-ub"], environment: ["GEMMA_UBATCH_SIZE", "LLAMA_ARG_UBATCH"],
        defaultNote: "--batch-size, at most 512",
        summary: "Most tokens llama.cpp computes at once within a step; sizes the compute buffer.")
    public static let gpuLayers = Setting<Int>(["--n-gpu-layers", "-ngl"], environment: ["GEMMA_N_GPU_LAYERS", "LLAMA_ARG_N_GPU_LAYERS"],
        default: 0, summary: "Layers offloaded to a GPU (a CPU build has none to offload to).")

    // Serve only.
    public static let hfRepo = Setting<String>(["--hf-repo"], environment: ["GEMMA_HF_REPO", "LLAMA_ARG_HF_REPO"],
        summary: "Hugging Face repo of the model, with --hf-file.")
    public static let hfFile = Setting<String>(["--hf-file"], environment: ["GEMMA_HF_FILE", "LLAMA_ARG_HF_FILE"],
        summary: "GGUF file in --hf-repo.")
    public static let alias = Setting<String>(["--alias", "-a"], environment: ["GEMMA_ALIAS", "LLAMA_ARG_ALIAS"],
        defaultNote: "the file name",
        summary: "Model names, comma-separated: the first is the model id in responses, /v1/models lists them all.")
    public static let tags = Setting<String>(["--tags"], environment: ["GEMMA_TAGS", "LLAMA_ARG_TAGS"],
        summary: "Model tags, comma-separated, listed by /v1/models (informational).")
    public static let threadsBatch = Setting<Int>(["--threads-batch"], environment: ["GEMMA_THREADS_BATCH", "LLAMA_ARG_THREADS_BATCH"],
        defaultNote: "--threads", summary: "CPU threads for prompt processing.")
    public static let host = Setting<String>(["--host"], environment: ["GEMMA_HOST", "LLAMA_ARG_HOST"],
        default: "127.0.0.1", summary: "Addresses to listen on, comma-separated (127.0.0.1,::1), all on --port.")
    public static let port = Setting<Int>(["--port"], environment: ["GEMMA_PORT", "LLAMA_ARG_PORT"],
        default: 8000, summary: "Port to listen on; 0 picks a free one.")
    public static let apiKeyFile = Setting<String>(["--api-key-file"], environment: ["GEMMA_API_KEY_FILE", "LLAMA_API_KEY_FILE"],
        summary: "File of API keys, one per line, # comments; re-read when it changes.")
    public static let noAuth = Setting<Bool>(switch: ["--no-auth"], environment: ["GEMMA_NO_AUTH"],
        summary: "Serve without API keys, even on a non-loopback address.")
    public static let maxBodySize = Setting<UInt64>(bytes: ["--max-body-size"], environment: ["GEMMA_MAX_BODY_SIZE"],
        default: 8 << 20, defaultNote: "8Mi", summary: "Largest request body, e.g. 8Mi.")
    public static let corsOrigins = Setting<String>(["--cors-origins"], environment: ["GEMMA_CORS_ORIGINS", "LLAMA_ARG_CORS_ORIGINS"],
        defaultNote: "none, stricter than llama-server's *",
        summary: "Origins whose web pages may call the API, comma-separated, or * for any.")
    public static let maxQueue = Setting<Int>(["--max-queue"], environment: ["GEMMA_MAX_QUEUE"],
        default: 64, summary: "Requests that may wait for a slot before 503.")
    public static let requestTimeout = Setting<Duration>(["--request-timeout"], environment: ["GEMMA_REQUEST_TIMEOUT"],
        defaultNote: "none; 0s is none too", summary: "Longest a request may take, e.g. 10m.")
    public static let shutdownGrace = Setting<Duration>(["--shutdown-grace"], environment: ["GEMMA_SHUTDOWN_GRACE"],
        default: .seconds(30), summary: "Time requests in flight get to finish on SIGTERM.")
    public static let ssePingInterval = Setting<Duration>(["--sse-ping-interval"], environment: ["GEMMA_SSE_PING_INTERVAL"],
        default: .seconds(15), summary: "Keep-alive comment interval on quiet streams, at least 100ms.")
    public static let metricsPort = Setting<Int>(["--metrics-port"], environment: ["GEMMA_METRICS_PORT"],
        summary: "Also serve /metrics without auth on this port, for Prometheus.")
    public static let offline = Setting<Bool>(switch: ["--offline"], environment: ["GEMMA_OFFLINE", "LLAMA_OFFLINE"],
        summary: "Take a registry model (-m ORG/REPO[:QUANT], --hf-repo, ollama://) from the cache only, never the network.")
    public static let logPrompts = Setting<Bool>(switch: ["--log-prompts"], environment: ["GEMMA_LOG_PROMPTS"],
        summary: "Log prompt text (off: prompts never reach the logs).")
    public static let deterministic = Setting<Bool>(switch: ["--deterministic"], environment: ["GEMMA_DETERMINISTIC"],
        summary: "Batch-invariant greedy output: llama.cpp's reference CPU kernels and no weight repacking, so a request's greedy text is the same alone or batched with others, at a cost in speed (see BENCHMARKS.md).")
    public static let cacheRam = Setting<Int>(["--cache-ram", "-cram"], environment: ["GEMMA_CACHE_RAM", "LLAMA_ARG_CACHE_RAM"],
        defaultNote: "8192, at most half of what the memory limit leaves",
        summary: "Host memory in MiB for prompt states whose slot moved on, restored when a conversation returns; -1: no limit, 0: off.")
    public static let slotSavePath = Setting<String>(["--slot-save-path"], environment: ["GEMMA_SLOT_SAVE_PATH", "LLAMA_ARG_SLOT_SAVE_PATH"],
        summary: "Directory where slots are saved on shutdown and restored from on start, e.g. on the model volume.")
    public static let jinja = Setting<Bool>(switch: ["--jinja"], environment: ["GEMMA_JINJA", "LLAMA_ARG_JINJA"], default: true,
        summary: "Render chat templates with llama.cpp's Jinja engine (--no-jinja: only llama.cpp's built-in formats, recognised from the template's text).")
    public static let chatTemplate = Setting<String>(["--chat-template"], environment: ["GEMMA_CHAT_TEMPLATE", "LLAMA_ARG_CHAT_TEMPLATE"],
        defaultNote: "the GGUF's template; Gemma's turns if it has none",
        summary: "A llama.cpp built-in template by name (gemma, chatml, llama3, …), with or without Jinja; a template of your own goes in --chat-template-file.")
    public static let chatTemplateFile = Setting<String>(["--chat-template-file"], environment: ["GEMMA_CHAT_TEMPLATE_FILE", "LLAMA_ARG_CHAT_TEMPLATE_FILE"],
        summary: "A Jinja chat template file to use instead of the GGUF's, checked at start.")
    public static let pooling = Setting<EmbeddingPooling>(["--pooling"], environment: ["GEMMA_POOLING", "LLAMA_ARG_POOLING"],
        default: .mean, summary: "Embedding pooling: mean, cls (the first token's state), last, or none (a vector per token: only /embedding answers; rank is not supported).",
        parse: EmbeddingPooling.parse)
    public static let slots = Setting<Bool>(switch: ["--slots"], environment: ["GEMMA_SLOTS", "LLAMA_ARG_ENDPOINT_SLOTS"], default: true,
        summary: "Serve GET /slots (--no-slots: 501, as llama-server).")
    public static let metrics = Setting<Bool>(switch: ["--metrics"], environment: ["LLAMA_ARG_ENDPOINT_METRICS"],
        summary: "Accepted for llama-server's command lines: gemmactl always serves /metrics.")
    public static let props = Setting<Bool>(switch: ["--props"], environment: ["GEMMA_PROPS", "LLAMA_ARG_ENDPOINT_PROPS"],
        summary: "Accept POST /props (it changes nothing; without this flag it is a 501, as llama-server).")
    public static let verbose = Setting<Bool>(switch: ["--verbose", "-v", "--log-verbose"], environment: ["GEMMA_VERBOSE"],
        summary: "Log at debug level (as --log-level debug).")
    /// Keys themselves come from the environment only (a flag would show them in `ps`).
    public static let apiKeyVariables = ["GEMMA_API_KEY", "LLAMA_API_KEY"]
}
