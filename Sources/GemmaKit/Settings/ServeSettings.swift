import Foundation

/// Every `gemmactl serve` setting, one descriptor each (see `Setting`). Each reads GEMMA_* and,
/// where llama-server has the setting, its LLAMA_ARG_* variable, so a Deployment's env carries
/// over. `plan`, `doctor` and `generate` take the model and compute settings from here too, so a
/// default and a range are written once; the rendered manifests spell the server's flags from
/// here, and the server's own checks name them from here.
public enum ServeSettings {
    // The model and its compute: shared with plan, doctor and generate.
    public static let model = Setting<String>(["--model", "-m"], environment: ["GEMMA_MODEL", "LLAMA_ARG_MODEL"],
        defaultNote: "the cached Gemma 3 270M Q4_K_M",
        summary: "GGUF model: a path, ORG/REPO[:QUANT] or ollama://NAME:TAG. serve takes it several times, each [ALIAS=]MODEL: the request's model picks one, the first is the default and loads at start, the others load when asked for.")
    public static let contextSize = Setting<Int>(["--ctx-size", "-c"], environment: ["GEMMA_CTX_SIZE", "LLAMA_ARG_CTX_SIZE"],
        summary: "Context size in tokens, shared by the slots.", range: 16...Int.max).defaulting(to: 4096)
    public static let parallel = Setting<Int>(["--parallel", "-np"], environment: ["GEMMA_PARALLEL", "LLAMA_ARG_N_PARALLEL"],
        // llama.cpp's most sequences in one context (LLAMA_MAX_SEQ).
        summary: "Slots: requests served at once.", range: 1...256).defaulting(to: 4)
    public static let threads = Setting<Int>(["--threads", "-t"], environment: ["GEMMA_THREADS", "LLAMA_ARG_THREADS"],
        defaultNote: "the CPUs this process may use", summary: "CPU threads for generation.", range: 1...Int.max)
    public static let batchSize = Setting<Int>(["--batch-size", "-b"], environment: ["GEMMA_BATCH_SIZE", "LLAMA_ARG_BATCH"],
        summary: "Most tokens per decode step.", range: 1...Int.max).defaulting(to: 512)
    public static let microBatchSize = Setting<Int>(["--ubatch-size", "-ub"], environment: ["GEMMA_UBATCH_SIZE", "LLAMA_ARG_UBATCH"],
        defaultNote: "--batch-size, at most 512",
        summary: "Most tokens llama.cpp computes at once within a step; sizes the compute buffer.", range: 1...Int.max)
    public static let gpuLayers = Setting<Int>(["--n-gpu-layers", "-ngl", "--gpu-layers"], environment: ["GEMMA_N_GPU_LAYERS", "LLAMA_ARG_N_GPU_LAYERS"],
        summary: "Layers offloaded to a GPU (a CPU build has none to offload to).", range: 0...Int.max).defaulting(to: 0)

    // Serve only.
    public static let hfRepo = Setting<String>(["--hf-repo", "-hf", "-hfr"], environment: ["GEMMA_HF_REPO", "LLAMA_ARG_HF_REPO"],
        summary: "Hugging Face repo of the model, with --hf-file.")
    public static let hfFile = Setting<String>(["--hf-file", "-hff"], environment: ["GEMMA_HF_FILE", "LLAMA_ARG_HF_FILE"],
        summary: "GGUF file in --hf-repo.")
    public static let alias = Setting<String>(["--alias", "-a"], environment: ["GEMMA_ALIAS", "LLAMA_ARG_ALIAS"],
        defaultNote: "the file name",
        summary: "Model names, comma-separated: the first in sorted order (as llama-server) is the model id in responses, /v1/models lists them all.")
    public static let tags = Setting<String>(["--tags"], environment: ["GEMMA_TAGS", "LLAMA_ARG_TAGS"],
        summary: "Model tags, comma-separated, listed by /v1/models (informational).")
    public static let threadsBatch = Setting<Int>(["--threads-batch"], environment: ["GEMMA_THREADS_BATCH", "LLAMA_ARG_THREADS_BATCH"],
        defaultNote: "--threads", summary: "CPU threads for prompt processing.", range: 1...Int.max)
    public static let host = Setting<String>(["--host"], environment: ["GEMMA_HOST", "LLAMA_ARG_HOST"],
        summary: "Addresses to listen on, comma-separated (127.0.0.1,::1), all on --port.").defaulting(to: "127.0.0.1")
    public static let port = Setting<Int>(["--port"], environment: ["GEMMA_PORT", "LLAMA_ARG_PORT"],
        summary: "Port to listen on; 0 picks a free one.", range: 0...65535).defaulting(to: 8000)
    public static let apiKeyFile = Setting<String>(["--api-key-file"], environment: ["GEMMA_API_KEY_FILE", "LLAMA_API_KEY_FILE"],
        summary: "File of API keys, one per line, # comments; re-read when it changes.")
    public static let noAuth = Setting<Bool>(switch: ["--no-auth"], environment: ["GEMMA_NO_AUTH"],
        summary: "Serve without API keys, even on a non-loopback address.")
    public static let maxBodySize = Setting<UInt64>(bytes: ["--max-body-size"], environment: ["GEMMA_MAX_BODY_SIZE"],
        defaultNote: "8Mi", summary: "Largest request body, e.g. 8Mi.", minimum: 1024).defaulting(to: 8 << 20)
    public static let corsOrigins = Setting<String>(["--cors-origins"], environment: ["GEMMA_CORS_ORIGINS", "LLAMA_ARG_CORS_ORIGINS"],
        defaultNote: "none, stricter than llama-server's *",
        summary: "Origins whose web pages may call the API, comma-separated, or * for any.")
    public static let maxQueue = Setting<Int>(["--max-queue"], environment: ["GEMMA_MAX_QUEUE"],
        summary: "Requests that may wait for a slot before 503.", range: 0...Int.max).defaulting(to: 64)
    public static let requestTimeout = Setting<Duration>(["--request-timeout"], environment: ["GEMMA_REQUEST_TIMEOUT"],
        defaultNote: "none; 0s is none too", summary: "Longest a request may take, e.g. 10m.")
    public static let shutdownGrace = Setting<Duration>(["--shutdown-grace"], environment: ["GEMMA_SHUTDOWN_GRACE"],
        summary: "Time requests in flight get to finish on SIGTERM.").defaulting(to: .seconds(30))
    public static let ssePingInterval = Setting<Duration>(["--sse-ping-interval"], environment: ["GEMMA_SSE_PING_INTERVAL"],
        summary: "Keep-alive comment interval on quiet streams.", minimum: .milliseconds(100)).defaulting(to: .seconds(15))
    public static let modelsMax = Setting<Int>(["--models-max"], environment: ["GEMMA_MODELS_MAX", "LLAMA_ARG_MODELS_MAX"],
        summary: "With several -m: most models loaded at once; the least recently used idle one is unloaded to load another.",
        range: 1...Int.max).defaulting(to: 4)
    public static let memoryBudget = Setting<UInt64>(bytes: ["--memory-budget"], environment: ["GEMMA_MEMORY_BUDGET"],
        defaultNote: "the cgroup memory limit, with several -m",
        summary: "Memory the loaded models may take as gemmactl plan sizes them, e.g. 6Gi: idle models are unloaded to make room, a model that cannot fit alone is refused at start.",
        minimum: 64 << 20)
    public static let keepAlive = Setting<KeepAlive>(["--keep-alive"], environment: ["GEMMA_KEEP_ALIVE", "OLLAMA_KEEP_ALIVE"],
        defaultNote: "5m with several -m; a single model stays loaded",
        summary: "With several -m: how long a model stays loaded after its last request (Ollama's keep_alive: 5m, 1h, 0 to unload at once, -1 to keep); a request's keep_alive overrides it.",
        describe: KeepAlive.describe, parse: KeepAlive.parse).defaulting(to: .after(.seconds(300)))
    public static let modelsDir = Setting<String>(["--models-dir"], environment: ["GEMMA_MODELS_DIR", "LLAMA_ARG_MODELS_DIR"],
        summary: "Serve every GGUF in this directory too, each named by its file name without .gguf (the first is the default when no -m is given), and the shared cache's models as org/repo:QUANT.")
    public static let modelsPreset = Setting<String>(["--models-preset"], environment: ["GEMMA_MODELS_PRESET", "LLAMA_ARG_MODELS_PRESET"],
        summary: "llama-server's INI file of models: each [section] a model named by it (its model, hf-repo or the section's name), with its own settings (ctx-size, parallel, chat-template, ...) over [*] and load-on-startup; the first is the default when no -m is given.")
    public static let sleepIdleSeconds = Setting<Int>(["--sleep-idle-seconds"], environment: ["GEMMA_SLEEP_IDLE_SECONDS", "LLAMA_ARG_SLEEP_IDLE_SECONDS"],
        summary: "A single model sleeps after this many seconds without a request: weights and KV cache freed, /props shows is_sleeping, the next request wakes it (/health, /ready, /props and /metrics never do); -1: never.") { text throws(InputError) in
            guard let seconds = Int(text.trimmingCharacters(in: .whitespaces)), seconds == -1 || seconds > 0 else {
                throw InputError("must be a number of seconds more than 0, or -1 for never, got '\(text)'")
            }
            return seconds
        }.defaulting(to: -1)
    public static let noModelsAutoload = Setting<Bool>(switch: ["--no-models-autoload"], environment: ["GEMMA_NO_MODELS_AUTOLOAD", "LLAMA_ARG_NO_MODELS_AUTOLOAD"],
        summary: "With several -m: load a model only on POST /models/load, never because a request names it.")
    public static let allowModelManagement = Setting<Bool>(switch: ["--allow-model-management"], environment: ["GEMMA_ALLOW_MODEL_MANAGEMENT"],
        summary: "Let API clients download models into the shared cache, copy and delete them (Ollama's /api/pull, /api/copy, /api/delete; llama-server's POST and DELETE /models); never a loaded one.")
    public static let metricsPort = Setting<Int>(["--metrics-port"], environment: ["GEMMA_METRICS_PORT"],
        summary: "Also serve /metrics without auth on this port, for Prometheus.", range: 0...65535)
    public static let offline = Setting<Bool>(switch: ["--offline"], environment: ["GEMMA_OFFLINE", "LLAMA_OFFLINE"],
        summary: "Take a registry model (-m ORG/REPO[:QUANT], --hf-repo, ollama://) from the cache only, never the network.")
    public static let logPrompts = Setting<Bool>(switch: ["--log-prompts"], environment: ["GEMMA_LOG_PROMPTS"],
        summary: "Log prompt text (off: prompts never reach the logs).")
    public static let deterministic = Setting<Bool>(switch: ["--deterministic"], environment: ["GEMMA_DETERMINISTIC"],
        summary: "Batch-invariant greedy output: llama.cpp's reference CPU kernels and no weight repacking, so a request's greedy text is the same alone or batched with others, at a cost in speed (see BENCHMARKS.md).")
    public static let cacheRam = Setting<PromptCacheSetting>(["--cache-ram", "-cram"], environment: ["GEMMA_CACHE_RAM", "LLAMA_ARG_CACHE_RAM"],
        defaultNote: "8192, at most half of what the memory limit leaves",
        summary: "Host memory in MiB for prompt states whose slot moved on, restored when a conversation returns; -1: no limit, 0: off.",
        parse: PromptCacheSetting.parse).defaulting(to: .automatic)
    public static let slotSavePath = Setting<String>(["--slot-save-path"], environment: ["GEMMA_SLOT_SAVE_PATH", "LLAMA_ARG_SLOT_SAVE_PATH"],
        summary: "Directory where slots are saved on shutdown and restored from on start, e.g. on the model volume.")
    public static let jinja = Setting<Bool>(switch: ["--jinja"], environment: ["GEMMA_JINJA", "LLAMA_ARG_JINJA"],
        summary: "Render chat templates with llama.cpp's Jinja engine (--no-jinja: only llama.cpp's built-in formats, recognised from the template's text).")
        .defaulting(to: true)
    public static let chatTemplate = Setting<String>(["--chat-template"], environment: ["GEMMA_CHAT_TEMPLATE", "LLAMA_ARG_CHAT_TEMPLATE"],
        defaultNote: "the GGUF's template; Gemma's turns if it has none",
        summary: "A llama.cpp built-in template by name (gemma, chatml, llama3, …), with or without Jinja; a template of your own goes in --chat-template-file.")
    public static let chatTemplateFile = Setting<String>(["--chat-template-file"], environment: ["GEMMA_CHAT_TEMPLATE_FILE", "LLAMA_ARG_CHAT_TEMPLATE_FILE"],
        summary: "A Jinja chat template file to use instead of the GGUF's, checked at start.")
    public static let reasoningFormat = Setting<ReasoningFormat>(["--reasoning-format"], environment: ["GEMMA_REASONING_FORMAT", "LLAMA_ARG_THINK"],
        summary: "How replies' thinking is returned, where the chat template has a thinking syntax: none (left in the content), deepseek or auto (apart, as reasoning_content / thinking), deepseek-legacy (as deepseek); a request's reasoning_format overrides it.",
        describe: \.rawValue, parse: ReasoningFormat.parse).defaulting(to: .auto)
    public static let reasoningBudget = Setting<Int>(["--reasoning-budget"], environment: ["GEMMA_REASONING_BUDGET", "LLAMA_ARG_THINK_BUDGET"],
        summary: "Most tokens a reply may think, where the chat template has a thinking syntax: -1 for no limit, 0 to close thinking as soon as it opens; the end of thinking is then forced.",
        range: -1...Int.max).defaulting(to: -1)
    public static let pooling = Setting<EmbeddingPooling>(["--pooling"], environment: ["GEMMA_POOLING", "LLAMA_ARG_POOLING"],
        summary: "Embedding pooling: mean, cls (the first token's state), last, or none (a vector per token: only /embedding answers; rank is not supported).",
        parse: EmbeddingPooling.parse).defaulting(to: .mean)
    public static let specType = Setting<[String]>(["--spec-type"], environment: ["GEMMA_SPEC_TYPE", "LLAMA_ARG_SPEC_TYPE"],
        defaultNote: "ngram-simple (and draft-simple with --spec-draft-model), each slot drafting only while its drafts are accepted enough to pay",
        summary: "Speculative decoding, llama-server's names, comma-separated: ngram-simple, ngram-map-k, ngram-map-k4v, ngram-mod, ngram-cache, or draft-simple (drafts from --spec-draft-model); none turns it off.",
        describe: { $0.isEmpty ? "none" : $0.joined(separator: ",") }) { text throws(InputError) in
            do throws(EngineError) { return try SpeculationOptions.types(parsing: text) } catch {
                throw InputError("must be speculative types (or none): \(error.message)")
            }
        }.defaulting(to: SpeculationOptions.automatic.types)
    public static let specDraftModel = Setting<String>(["--spec-draft-model", "-md", "--model-draft"],
        environment: ["GEMMA_SPEC_DRAFT_MODEL", "LLAMA_ARG_SPEC_DRAFT_MODEL"],
        summary: "A smaller model with the served model's vocabulary that drafts for it (speculative type draft-simple, added to --spec-type): a GGUF path, or ORG/REPO[:QUANT] or ollama://NAME:TAG already in the cache. Its weights and a cache as large as the served model's count in the memory plan.")
    public static let specDraftMax = Setting<Int>(["--spec-draft-n-max"], environment: ["GEMMA_SPEC_DRAFT_N_MAX", "LLAMA_ARG_SPEC_DRAFT_N_MAX"],
        summary: "Most tokens one draft may carry (0 turns speculation off).", range: 0...1024)
        .defaulting(to: SpeculationOptions.defaultDraftMax)
    public static let specDraftMin = Setting<Int>(["--spec-draft-n-min"], environment: ["GEMMA_SPEC_DRAFT_N_MIN", "LLAMA_ARG_SPEC_DRAFT_N_MIN"],
        summary: "Fewest tokens a draft must carry to be verified.", range: 0...1024).defaulting(to: 0)
    public static let slots = Setting<Bool>(switch: ["--slots"], environment: ["GEMMA_SLOTS", "LLAMA_ARG_ENDPOINT_SLOTS"],
        summary: "Serve GET /slots (--no-slots: 501, as llama-server).").defaulting(to: true)
    public static let metrics = Setting<Bool>(switch: ["--metrics"], environment: ["GEMMA_METRICS", "LLAMA_ARG_ENDPOINT_METRICS"],
        summary: "Serve /metrics (--no-metrics: 501, as llama-server without --metrics; --metrics-port is then refused).")
        .defaulting(to: true)
    public static let props = Setting<Bool>(switch: ["--props"], environment: ["GEMMA_PROPS", "LLAMA_ARG_ENDPOINT_PROPS"],
        summary: "Accept POST /props (it changes nothing; without this flag it is a 501, as llama-server).")
    public static let verbose = Setting<Bool>(switch: ["--verbose", "-v", "--log-verbose"], environment: ["GEMMA_VERBOSE"],
        summary: "Log at debug level (as --log-level debug).")

    // Server-wide sampling defaults, as llama-server's: what a request that does not set the field gets.
    public static let temperature = Setting<Double>(["--temp", "--temperature"], environment: ["GEMMA_TEMPERATURE", "LLAMA_ARG_TEMPERATURE"],
        summary: "Default sampling temperature; 0 is greedy (below 0 counts as 0, as llama-server).") { text throws(InputError) in
            guard let number = Double(text.trimmingCharacters(in: .whitespaces)), number.isFinite else {
                throw InputError("must be a number, got '\(text)'")
            }
            return max(0, number)
        }.defaulting(to: SamplingParameters().temperature)
    public static let seed = Setting<Int>(["--seed", "-s"], environment: ["GEMMA_SEED"],
        summary: "Default sampling seed; -1 for a random one per request.", range: -1...Int(UInt32.max)).defaulting(to: -1)
    public static let nPredict = Setting<Int>(["--n-predict", "-n", "--predict"], environment: ["GEMMA_N_PREDICT", "LLAMA_ARG_N_PREDICT"],
        summary: "Default most tokens to generate; -1 for no limit but the context.", range: -1...Int.max).defaulting(to: -1)
    public static let topK = Setting<Int>(["--top-k"], environment: ["GEMMA_TOP_K", "LLAMA_ARG_TOP_K"],
        summary: "Default top-k; 0 disables.").defaulting(to: SamplingParameters().topK)
    public static let topP = Setting<Double>(["--top-p"], environment: ["GEMMA_TOP_P", "LLAMA_ARG_TOP_P"],
        summary: "Default top-p; 1 disables.").defaulting(to: SamplingParameters().topP)
    public static let minP = Setting<Double>(["--min-p"], environment: ["GEMMA_MIN_P", "LLAMA_ARG_MIN_P"],
        summary: "Default min-p; 0 disables.").defaulting(to: SamplingParameters().minP)
    public static let repeatPenalty = Setting<Double>(["--repeat-penalty"], environment: ["GEMMA_REPEAT_PENALTY"],
        summary: "Default repeat penalty, more than 0; 1 disables.") { text throws(InputError) in
            guard let number = Double(text.trimmingCharacters(in: .whitespaces)), number.isFinite, number > 0 else {
                throw InputError("must be a number more than 0, got '\(text)'")
            }
            return number
        }.defaulting(to: SamplingParameters().repeatPenalty)

    /// Every descriptor above: each is an option of `gemmactl serve` (a test checks it).
    public static let all: [any SettingDescription] = [
        model, contextSize, parallel, threads, batchSize, microBatchSize, gpuLayers,
        hfRepo, hfFile, alias, tags, modelsMax, memoryBudget, keepAlive, modelsDir, modelsPreset, sleepIdleSeconds, noModelsAutoload, allowModelManagement, threadsBatch, host, port, apiKeyFile, noAuth, maxBodySize, corsOrigins, maxQueue,
        requestTimeout, shutdownGrace, ssePingInterval, metricsPort, offline, logPrompts, deterministic, cacheRam,
        slotSavePath, jinja, chatTemplate, chatTemplateFile, reasoningFormat, reasoningBudget, pooling, specType, specDraftModel, specDraftMax, specDraftMin, slots, metrics, props, verbose,
        temperature, seed, nPredict, topK, topP, minP, repeatPenalty,
    ]

    /// Keys themselves come from the environment only (a flag would show them in `ps`). The previous
    /// key is a rotation's old key, which the rendered pod takes from the Secret's `api-key-previous`.
    public static let apiKeyVariables = ["GEMMA_API_KEY", "LLAMA_API_KEY", "GEMMA_API_KEY_PREVIOUS"]
}
