function __gemmactl_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __gemmactl_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __gemmactl_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __gemmactl_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __gemmactl_parse_tokens -S
    set -l unparsed_tokens (__gemmactl_tokens -pc)
    switch $unparsed_tokens[1]
    case 'gemmactl'
        __gemmactl_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'serve'
            __gemmactl_parse_subcommand 0 'm/model=+' 'c/ctx-size=' 't/threads=' 'b/batch-size=' 'ubatch-size=' 'n-gpu-layers=' 'parallel=' 'hf-repo=' 'hf-file=' 'offline' 'threads-batch=' 'deterministic' 'a/alias=' 'tags=' 'models-max=' 'memory-budget=' 'keep-alive=' 'models-dir=' 'models-preset=' 'sleep-idle-seconds=' 'no-models-autoload' 'allow-model-management' 'host=' 'port=' 'api-key-file=' 'no-auth' 'cors-origins=' 'max-body-size=' 'max-queue=' 'request-timeout=' 'shutdown-grace=' 'sse-ping-interval=' 'cache-ram=' 'slot-save-path=' 'jinja' 'no-jinja' 'chat-template=' 'chat-template-file=' 'reasoning-format=' 'reasoning-budget=' 'pooling=' 'spec-type=' 'spec-draft-model=' 'spec-draft-n-max=' 'spec-draft-n-min=' 'slots' 'no-slots' 'metrics' 'no-metrics' 'metrics-port=' 'props' 'log-prompts' 'temp=' 's/seed=' 'n/n-predict=' 'top-k=' 'top-p=' 'min-p=' 'repeat-penalty=' 'log-level=' 'v/verbose' 'version' 'h/help'
        case 'generate'
            __gemmactl_parse_subcommand 0 'm/model=+' 'c/ctx-size=' 't/threads=' 'b/batch-size=' 'ubatch-size=' 'n-gpu-layers=' 'log-level=' 'p/prompt=' 'n/max-tokens=' 'temperature=' 'seed=' 'stop=+' 'chat' 'version' 'h/help'
        case 'pull'
            __gemmactl_parse_subcommand -r 1 'hf-repo=' 'hf-file=' 'revision=' 'sha256=' 'cache-dir=' 'token-file=' 'offline' 'json' 'q/quiet' 'version' 'h/help'
        case 'models'
            __gemmactl_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'list'
                __gemmactl_parse_subcommand 0 'cache-dir=' 'json' 'version' 'h/help'
            case 'rm'
                __gemmactl_parse_subcommand 1 'cache-dir=' 'json' 'version' 'h/help'
            end
        case 'inspect'
            __gemmactl_parse_subcommand 1 'cache-dir=' 'json' 'metadata' 'version' 'h/help'
        case 'plan'
            __gemmactl_parse_subcommand 1 'm/model=+' 'c/ctx-size=' 't/threads=' 'b/batch-size=' 'ubatch-size=' 'n-gpu-layers=' 'parallel=' 'cache-type-k=' 'cache-type-v=' 'models-max=' 'memory-limit=' 'spec-draft-model=' 'cache-dir=' 'json' 'version' 'h/help'
        case 'render'
            __gemmactl_parse_subcommand 0 'values=' 'set=+' 'profile=' 'name=' 'namespace=' 'image=' 'hostname=' 'gateway=' 'model=+' 'external-ip=' 'external-host=' 'legacy-endpoints' 'replicas=' 'ctx-size=' 'memory-limit=' 'cpu-limit=' 'storage-class=' 'secret-source=' 'api-key-file=' 'templates=' 'o/output=' 'plan-from=' 'print-values' 'cache-dir=' 'version' 'h/help'
        case 'health'
            __gemmactl_parse_subcommand 0 'url=' 'api-key-file=' 'timeout=' 'insecure' 'json' 'wait' 'interval=' 'version' 'h/help'
        case 'slots'
            __gemmactl_parse_subcommand 0 'url=' 'api-key-file=' 'timeout=' 'insecure' 'json' 'watch' 'interval=' 'version' 'h/help'
        case 'rotate-key'
            __gemmactl_parse_subcommand 0 'keys-file=' 'finish' 'grace=' 'tfvars=' 'tfvars-variable=' 'k8s-secret=' 'namespace=' 'secret-key=' 'apply' 'prefix=' 'show' 'verify' 'verify-timeout=' 'url=' 'api-key-file=' 'timeout=' 'insecure' 'json' 'version' 'h/help'
        case 'doctor'
            __gemmactl_parse_subcommand 0 'url=' 'api-key-file=' 'timeout=' 'insecure' 'json' 'memory-limit=' 'm/model=+' 'c/ctx-size=' 't/threads=' 'b/batch-size=' 'ubatch-size=' 'n-gpu-layers=' 'parallel=' 'namespace=' 's/selector=' 'stream-check' 'gateway-url=' 'stuck-interval=' 'version' 'h/help'
        case 'help'
            __gemmactl_parse_subcommand -r 1 'version'
        end
    end
end

function __gemmactl_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __gemmactl_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __gemmactl_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __gemmactl_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__gemmactl_tokens -p)
    if test -z "$(__gemmactl_tokens -t)"
        set -l index (count (__gemmactl_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'gemmactl' -f
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'serve' -d 'Serve the model over an OpenAI- and Ollama-compatible HTTP API with API-key auth.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'generate' -d 'Generate a completion for one prompt and print it as it is generated.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'pull' -d 'Download a model into the shared Hugging Face cache (also used by llama.cpp\'s -hf).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'models' -d 'List the models in the shared cache.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'inspect' -d 'Show a GGUF model\'s architecture, size and quantization.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'plan' -d 'Plan the memory and CPU a model (or a pod serving several) needs for a context size and parallel requests.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'render' -d 'Render Kubernetes manifests for a Gemma deployment.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'health' -d 'Check that a server is up, has loaded its model, and accepts the API key.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'slots' -d 'Show the server\'s generation slots: which are busy and how far along.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'rotate-key' -d 'Generate a new API key and put it where the server reads it, with zero downtime.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'doctor' -d 'Run the troubleshooting checklist and print a finding and a fix for each check.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve"' -l 'model' -s 'm' -d 'GGUF model: a path, ORG/REPO[:QUANT] or ollama://NAME:TAG. serve takes it several times, each [ALIAS=]MODEL: the request\'s model picks one, the first is the default and loads at start, the others load when asked for. (default: the cached Gemma 3 270M Q4_K_M) [environment: GEMMA_MODEL, LLAMA_ARG_MODEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" c ctx-size' -l 'ctx-size' -s 'c' -d 'Context size in tokens, shared by the slots. (default: 4096) [environment: GEMMA_CTX_SIZE, LLAMA_ARG_CTX_SIZE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" t threads' -l 'threads' -s 't' -d 'CPU threads for generation. (default: the CPUs this process may use) [environment: GEMMA_THREADS, LLAMA_ARG_THREADS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" b batch-size' -l 'batch-size' -s 'b' -d 'Most tokens per decode step. (default: 512) [environment: GEMMA_BATCH_SIZE, LLAMA_ARG_BATCH]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" ub ubatch-size' -l 'ubatch-size' -o 'ub' -d 'Most tokens llama.cpp computes at once within a step; sizes the compute buffer. (default: --batch-size, at most 512) [environment: GEMMA_UBATCH_SIZE, LLAMA_ARG_UBATCH]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" gpu-layers n-gpu-layers ngl' -l 'n-gpu-layers' -o 'ngl' -l 'gpu-layers' -d 'Layers offloaded to a GPU (a CPU build has none to offload to). (default: 0) [environment: GEMMA_N_GPU_LAYERS, LLAMA_ARG_N_GPU_LAYERS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" np parallel' -l 'parallel' -o 'np' -d 'Slots: requests served at once. (default: 4) [environment: GEMMA_PARALLEL, LLAMA_ARG_N_PARALLEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" hf hf-repo hfr' -l 'hf-repo' -o 'hf' -o 'hfr' -d 'Hugging Face repo of the model, with --hf-file. [environment: GEMMA_HF_REPO, LLAMA_ARG_HF_REPO]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" hf-file hff' -l 'hf-file' -o 'hff' -d 'GGUF file in --hf-repo. [environment: GEMMA_HF_FILE, LLAMA_ARG_HF_FILE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" offline' -l 'offline' -d 'Take a registry model (-m ORG/REPO[:QUANT], --hf-repo, ollama://) from the cache only, never the network. [environment: GEMMA_OFFLINE, LLAMA_OFFLINE]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" threads-batch' -l 'threads-batch' -d 'CPU threads for prompt processing. (default: --threads) [environment: GEMMA_THREADS_BATCH, LLAMA_ARG_THREADS_BATCH]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" deterministic' -l 'deterministic' -d 'Batch-invariant greedy output: llama.cpp\'s reference CPU kernels and no weight repacking, so a request\'s greedy text is the same alone or batched with others, at a cost in speed (see BENCHMARKS.md). [environment: GEMMA_DETERMINISTIC]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" a alias' -l 'alias' -s 'a' -d 'Model names, comma-separated: the first in sorted order (as llama-server) is the model id in responses, /v1/models lists them all. (default: the file name) [environment: GEMMA_ALIAS, LLAMA_ARG_ALIAS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" tags' -l 'tags' -d 'Model tags, comma-separated, listed by /v1/models (informational). [environment: GEMMA_TAGS, LLAMA_ARG_TAGS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" models-max' -l 'models-max' -d 'With several -m: most models loaded at once; the least recently used idle one is unloaded to load another. (default: 4) [environment: GEMMA_MODELS_MAX, LLAMA_ARG_MODELS_MAX]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" memory-budget' -l 'memory-budget' -d 'Memory the loaded models may take as gemmactl plan sizes them, e.g. 6Gi: idle models are unloaded to make room, a model that cannot fit alone is refused at start. (default: the cgroup memory limit, with several -m) [environment: GEMMA_MEMORY_BUDGET]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" keep-alive' -l 'keep-alive' -d 'With several -m: how long a model stays loaded after its last request (Ollama\'s keep_alive: 5m, 1h, 0 to unload at once, -1 to keep); a request\'s keep_alive overrides it. (default: 5m with several -m; a single model stays loaded) [environment: GEMMA_KEEP_ALIVE, OLLAMA_KEEP_ALIVE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" models-dir' -l 'models-dir' -d 'Serve every GGUF in this directory too, each named by its file name without .gguf (the first is the default when no -m is given), and the shared cache\'s models as org/repo:QUANT. [environment: GEMMA_MODELS_DIR, LLAMA_ARG_MODELS_DIR]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" models-preset' -l 'models-preset' -d 'llama-server\'s INI file of models: each [section] a model named by it (its model, hf-repo or the section\'s name), with its own settings (ctx-size, parallel, chat-template, ...) over [*] and load-on-startup; the first is the default when no -m is given. [environment: GEMMA_MODELS_PRESET, LLAMA_ARG_MODELS_PRESET]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" sleep-idle-seconds' -l 'sleep-idle-seconds' -d 'A single model sleeps after this many seconds without a request: weights and KV cache freed, /props shows is_sleeping, the next request wakes it (/health, /ready, /props and /metrics never do); -1: never. (default: -1) [environment: GEMMA_SLEEP_IDLE_SECONDS, LLAMA_ARG_SLEEP_IDLE_SECONDS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" no-models-autoload' -l 'no-models-autoload' -d 'With several -m: load a model only on POST /models/load, never because a request names it. [environment: GEMMA_NO_MODELS_AUTOLOAD, LLAMA_ARG_NO_MODELS_AUTOLOAD]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" allow-model-management' -l 'allow-model-management' -d 'Let API clients download models into the shared cache, copy and delete them (Ollama\'s /api/pull, /api/copy, /api/delete; llama-server\'s POST and DELETE /models); never a loaded one. [environment: GEMMA_ALLOW_MODEL_MANAGEMENT]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" host' -l 'host' -d 'Addresses to listen on, comma-separated (127.0.0.1,::1), all on --port. (default: 127.0.0.1) [environment: GEMMA_HOST, LLAMA_ARG_HOST]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" port' -l 'port' -d 'Port to listen on; 0 picks a free one. (default: 8000) [environment: GEMMA_PORT, LLAMA_ARG_PORT]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" api-key-file' -l 'api-key-file' -d 'File of API keys, one per line, # comments; re-read when it changes. [environment: GEMMA_API_KEY_FILE, LLAMA_API_KEY_FILE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" no-auth' -l 'no-auth' -d 'Serve without API keys, even on a non-loopback address. [environment: GEMMA_NO_AUTH]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" cors-origins' -l 'cors-origins' -d 'Origins whose web pages may call the API, comma-separated, or * for any. (default: none, stricter than llama-server\'s *) [environment: GEMMA_CORS_ORIGINS, LLAMA_ARG_CORS_ORIGINS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" max-body-size' -l 'max-body-size' -d 'Largest request body, e.g. 8Mi. (default: 8Mi) [environment: GEMMA_MAX_BODY_SIZE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" max-queue' -l 'max-queue' -d 'Requests that may wait for a slot before 503. (default: 64) [environment: GEMMA_MAX_QUEUE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" request-timeout' -l 'request-timeout' -d 'Longest a request may take, e.g. 10m. (default: none; 0s is none too) [environment: GEMMA_REQUEST_TIMEOUT]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" shutdown-grace' -l 'shutdown-grace' -d 'Time requests in flight get to finish on SIGTERM. (default: 30s) [environment: GEMMA_SHUTDOWN_GRACE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" sse-ping-interval' -l 'sse-ping-interval' -d 'Keep-alive comment interval on quiet streams. (default: 15s) [environment: GEMMA_SSE_PING_INTERVAL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" cache-ram cram' -l 'cache-ram' -o 'cram' -d 'Host memory in MiB for prompt states whose slot moved on, restored when a conversation returns; -1: no limit, 0: off. (default: 8192, at most half of what the memory limit leaves) [environment: GEMMA_CACHE_RAM, LLAMA_ARG_CACHE_RAM]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" slot-save-path' -l 'slot-save-path' -d 'Directory where slots are saved on shutdown and restored from on start, e.g. on the model volume. [environment: GEMMA_SLOT_SAVE_PATH, LLAMA_ARG_SLOT_SAVE_PATH]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" jinja' -l 'jinja' -d 'Render chat templates with llama.cpp\'s Jinja engine (--no-jinja: only llama.cpp\'s built-in formats, recognised from the template\'s text). (default: on) [environment: GEMMA_JINJA, LLAMA_ARG_JINJA]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" no-jinja' -l 'no-jinja' -d 'Render chat templates with llama.cpp\'s Jinja engine (--no-jinja: only llama.cpp\'s built-in formats, recognised from the template\'s text). (default: on) [environment: GEMMA_JINJA, LLAMA_ARG_JINJA]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" chat-template' -l 'chat-template' -d 'A llama.cpp built-in template by name (gemma, chatml, llama3, …), with or without Jinja; a template of your own goes in --chat-template-file. (default: the GGUF\'s template; Gemma\'s turns if it has none) [environment: GEMMA_CHAT_TEMPLATE, LLAMA_ARG_CHAT_TEMPLATE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" chat-template-file' -l 'chat-template-file' -d 'A Jinja chat template file to use instead of the GGUF\'s, checked at start. [environment: GEMMA_CHAT_TEMPLATE_FILE, LLAMA_ARG_CHAT_TEMPLATE_FILE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" reasoning-format' -l 'reasoning-format' -d 'How replies\' thinking is returned, where the chat template has a thinking syntax: none (left in the content), deepseek or auto (apart, as reasoning_content / thinking), deepseek-legacy (as deepseek); a request\'s reasoning_format overrides it. (default: auto) [environment: GEMMA_REASONING_FORMAT, LLAMA_ARG_THINK]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" reasoning-budget' -l 'reasoning-budget' -d 'Most tokens a reply may think, where the chat template has a thinking syntax: -1 for no limit, 0 to close thinking as soon as it opens; the end of thinking is then forced. (default: -1) [environment: GEMMA_REASONING_BUDGET, LLAMA_ARG_THINK_BUDGET]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" pooling' -l 'pooling' -d 'Embedding pooling: mean, cls (the first token\'s state), last, or none (a vector per token: only /embedding answers; rank is not supported). (default: mean) [environment: GEMMA_POOLING, LLAMA_ARG_POOLING]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" spec-type' -l 'spec-type' -d 'Speculative decoding, llama-server\'s names, comma-separated: ngram-simple, ngram-map-k, ngram-map-k4v, ngram-mod, ngram-cache, or draft-simple (drafts from --spec-draft-model); none turns it off. (default: ngram-simple (and draft-simple with --spec-draft-model), each slot drafting only while its drafts are accepted enough to pay) [environment: GEMMA_SPEC_TYPE, LLAMA_ARG_SPEC_TYPE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" md model-draft spec-draft-model' -l 'spec-draft-model' -o 'md' -l 'model-draft' -d 'A smaller model with the served model\'s vocabulary that drafts for it (speculative type draft-simple, added to --spec-type): a GGUF path, or ORG/REPO[:QUANT] or ollama://NAME:TAG already in the cache. Its weights and a cache as large as the served model\'s count in the memory plan. [environment: GEMMA_SPEC_DRAFT_MODEL, LLAMA_ARG_SPEC_DRAFT_MODEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" spec-draft-n-max' -l 'spec-draft-n-max' -d 'Most tokens one draft may carry (0 turns speculation off). (default: 64) [environment: GEMMA_SPEC_DRAFT_N_MAX, LLAMA_ARG_SPEC_DRAFT_N_MAX]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" spec-draft-n-min' -l 'spec-draft-n-min' -d 'Fewest tokens a draft must carry to be verified. (default: 0) [environment: GEMMA_SPEC_DRAFT_N_MIN, LLAMA_ARG_SPEC_DRAFT_N_MIN]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" slots' -l 'slots' -d 'Serve GET /slots (--no-slots: 501, as llama-server). (default: on) [environment: GEMMA_SLOTS, LLAMA_ARG_ENDPOINT_SLOTS]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" no-slots' -l 'no-slots' -d 'Serve GET /slots (--no-slots: 501, as llama-server). (default: on) [environment: GEMMA_SLOTS, LLAMA_ARG_ENDPOINT_SLOTS]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" metrics' -l 'metrics' -d 'Serve /metrics (--no-metrics: 501, as llama-server without --metrics; --metrics-port is then refused). (default: on) [environment: GEMMA_METRICS, LLAMA_ARG_ENDPOINT_METRICS]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" no-metrics' -l 'no-metrics' -d 'Serve /metrics (--no-metrics: 501, as llama-server without --metrics; --metrics-port is then refused). (default: on) [environment: GEMMA_METRICS, LLAMA_ARG_ENDPOINT_METRICS]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" metrics-port' -l 'metrics-port' -d 'Also serve /metrics without auth on this port, for Prometheus. [environment: GEMMA_METRICS_PORT]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" props' -l 'props' -d 'Accept POST /props (it changes nothing; without this flag it is a 501, as llama-server). [environment: GEMMA_PROPS, LLAMA_ARG_ENDPOINT_PROPS]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" log-prompts' -l 'log-prompts' -d 'Log prompt text (off: prompts never reach the logs). [environment: GEMMA_LOG_PROMPTS]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" temp temperature' -l 'temp' -l 'temperature' -d 'Default sampling temperature; 0 is greedy (below 0 counts as 0, as llama-server). (default: 0.8) [environment: GEMMA_TEMPERATURE, LLAMA_ARG_TEMPERATURE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" s seed' -l 'seed' -s 's' -d 'Default sampling seed; -1 for a random one per request. (default: -1) [environment: GEMMA_SEED]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" n n-predict predict' -l 'n-predict' -s 'n' -l 'predict' -d 'Default most tokens to generate; -1 for no limit but the context. (default: -1) [environment: GEMMA_N_PREDICT, LLAMA_ARG_N_PREDICT]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" top-k' -l 'top-k' -d 'Default top-k; 0 disables. (default: 40) [environment: GEMMA_TOP_K, LLAMA_ARG_TOP_K]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" top-p' -l 'top-p' -d 'Default top-p; 1 disables. (default: 0.95) [environment: GEMMA_TOP_P, LLAMA_ARG_TOP_P]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" min-p' -l 'min-p' -d 'Default min-p; 0 disables. (default: 0.05) [environment: GEMMA_MIN_P, LLAMA_ARG_MIN_P]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" repeat-penalty' -l 'repeat-penalty' -d 'Default repeat penalty, more than 0; 1 disables. (default: 1.0) [environment: GEMMA_REPEAT_PENALTY]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" log-level' -l 'log-level' -d 'trace, debug, info, notice, warning, error or critical. [environment: GEMMA_LOG_LEVEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" log-verbose v verbose' -l 'verbose' -s 'v' -l 'log-verbose' -d 'Log at debug level (as --log-level debug). [environment: GEMMA_VERBOSE]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl serve" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate"' -l 'model' -s 'm' -d 'GGUF model: a path, ORG/REPO[:QUANT] or ollama://NAME:TAG. serve takes it several times, each [ALIAS=]MODEL: the request\'s model picks one, the first is the default and loads at start, the others load when asked for. (default: the cached Gemma 3 270M Q4_K_M) [environment: GEMMA_MODEL, LLAMA_ARG_MODEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" c ctx-size' -l 'ctx-size' -s 'c' -d 'Context size in tokens, shared by the slots. (default: 4096) [environment: GEMMA_CTX_SIZE, LLAMA_ARG_CTX_SIZE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" t threads' -l 'threads' -s 't' -d 'CPU threads for generation. (default: the CPUs this process may use) [environment: GEMMA_THREADS, LLAMA_ARG_THREADS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" b batch-size' -l 'batch-size' -s 'b' -d 'Most tokens per decode step. (default: 512) [environment: GEMMA_BATCH_SIZE, LLAMA_ARG_BATCH]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" ub ubatch-size' -l 'ubatch-size' -o 'ub' -d 'Most tokens llama.cpp computes at once within a step; sizes the compute buffer. (default: --batch-size, at most 512) [environment: GEMMA_UBATCH_SIZE, LLAMA_ARG_UBATCH]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" gpu-layers n-gpu-layers ngl' -l 'n-gpu-layers' -o 'ngl' -l 'gpu-layers' -d 'Layers offloaded to a GPU (a CPU build has none to offload to). (default: 0) [environment: GEMMA_N_GPU_LAYERS, LLAMA_ARG_N_GPU_LAYERS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" log-level' -l 'log-level' -d 'trace, debug, info, notice, warning, error or critical. [environment: GEMMA_LOG_LEVEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" p prompt' -l 'prompt' -s 'p' -d 'The prompt text.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" max-tokens n' -l 'max-tokens' -s 'n' -d 'Most tokens to generate.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" temperature' -l 'temperature' -d 'Sampling temperature; 0 is greedy and deterministic.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" seed' -l 'seed' -d 'Random seed for sampling.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate"' -l 'stop' -d 'Stop when this text is generated (repeatable).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" chat' -l 'chat' -d 'Format the prompt as a user turn with the model\'s chat template.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" hf-repo' -l 'hf-repo' -d 'Hugging Face repository, ORG/REPO[:QUANT].' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" hf-file' -l 'hf-file' -d 'File of the repository to download.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" revision' -l 'revision' -d 'Branch, tag or commit.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" sha256' -l 'sha256' -d 'Expected sha256 of the file (default: the hub\'s LFS checksum).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" cache-dir' -l 'cache-dir' -d 'Model cache folder. Default: as llama.cpp chooses it. [environment: LLAMA_CACHE, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" token-file' -l 'token-file' -d 'File holding a Hugging Face token for gated models. [environment: HF_TOKEN]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" offline' -l 'offline' -d 'Use the cache only; never touch the network. [environment: HF_HUB_OFFLINE]'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" q quiet' -l 'quiet' -s 'q' -d 'Print nothing but errors (and the path at the end).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl pull" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl models" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl models" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl models" -eq 1' -fa 'list' -d 'List cached models.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl models" -eq 1' -fa 'rm' -d 'Remove a cached repository, or one file of it (REPO:FILE or REPO:QUANT).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl models list" cache-dir' -l 'cache-dir' -d 'Model cache folder. Default: as llama.cpp chooses it. [environment: LLAMA_CACHE, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl models list" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl models list" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl models list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl models rm" cache-dir' -l 'cache-dir' -d 'Model cache folder. Default: as llama.cpp chooses it. [environment: LLAMA_CACHE, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl models rm" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl models rm" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl models rm" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl inspect" cache-dir' -l 'cache-dir' -d 'Model cache folder. Default: as llama.cpp chooses it. [environment: LLAMA_CACHE, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl inspect" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl inspect" metadata' -l 'metadata' -d 'Also print every metadata key and value.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl inspect" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl inspect" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan"' -l 'model' -s 'm' -d 'GGUF model: a path, ORG/REPO[:QUANT] or ollama://NAME:TAG. serve takes it several times, each [ALIAS=]MODEL: the request\'s model picks one, the first is the default and loads at start, the others load when asked for. (default: the cached Gemma 3 270M Q4_K_M) [environment: GEMMA_MODEL, LLAMA_ARG_MODEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" c ctx-size' -l 'ctx-size' -s 'c' -d 'Context size in tokens, shared by the slots. (default: 4096) [environment: GEMMA_CTX_SIZE, LLAMA_ARG_CTX_SIZE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" t threads' -l 'threads' -s 't' -d 'CPU threads for generation. (default: the CPUs this process may use) [environment: GEMMA_THREADS, LLAMA_ARG_THREADS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" b batch-size' -l 'batch-size' -s 'b' -d 'Most tokens per decode step. (default: 512) [environment: GEMMA_BATCH_SIZE, LLAMA_ARG_BATCH]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" ub ubatch-size' -l 'ubatch-size' -o 'ub' -d 'Most tokens llama.cpp computes at once within a step; sizes the compute buffer. (default: --batch-size, at most 512) [environment: GEMMA_UBATCH_SIZE, LLAMA_ARG_UBATCH]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" gpu-layers n-gpu-layers ngl' -l 'n-gpu-layers' -o 'ngl' -l 'gpu-layers' -d 'Layers offloaded to a GPU (a CPU build has none to offload to). (default: 0) [environment: GEMMA_N_GPU_LAYERS, LLAMA_ARG_N_GPU_LAYERS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" np parallel' -l 'parallel' -o 'np' -d 'Slots: requests served at once. (default: 4) [environment: GEMMA_PARALLEL, LLAMA_ARG_N_PARALLEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" cache-type-k ctk' -l 'cache-type-k' -o 'ctk' -d 'KV cache type for K: f16 or q8_0 (also f32, q4_0). (default: f16) [environment: LLAMA_ARG_CACHE_TYPE_K]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" cache-type-v ctv' -l 'cache-type-v' -o 'ctv' -d 'KV cache type for V (quantized V needs flash attention). (default: f16) [environment: LLAMA_ARG_CACHE_TYPE_V]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" models-max' -l 'models-max' -d 'With several -m: size the pod for this many loaded at once, the largest (as serve --models-max; default: all).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" memory-limit' -l 'memory-limit' -d 'Memory limit to measure headroom against, e.g. 4Gi (default: the recommended limit).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" md model-draft spec-draft-model' -l 'spec-draft-model' -o 'md' -l 'model-draft' -d 'A smaller model with the served model\'s vocabulary that drafts for it (speculative type draft-simple, added to --spec-type): a GGUF path, or ORG/REPO[:QUANT] or ollama://NAME:TAG already in the cache. Its weights and a cache as large as the served model\'s count in the memory plan. [environment: GEMMA_SPEC_DRAFT_MODEL, LLAMA_ARG_SPEC_DRAFT_MODEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" cache-dir' -l 'cache-dir' -d 'Model cache folder. Default: as llama.cpp chooses it. [environment: LLAMA_CACHE, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl plan" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" values' -l 'values' -d 'A YAML values file.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render"' -l 'set' -d 'Set one value, as helm does (repeatable): server.ctxSize=8192, external.models={a,b}.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" profile' -l 'profile' -d 'deployment layout: gemmactl, llama-server, ollama or external-ollama.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" name' -l 'name' -d 'Base name of every resource (a DNS-1123 label; default gemma).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" namespace' -l 'namespace' -d 'Namespace of every resource (default gemma).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" image' -l 'image' -d 'Image of the main container, e.g. ghcr.io/you/gemmactl:0.1.0 (values image.repository and image.tag; for the gemmactl profile the tag defaults to this gemmactl\'s version, 0.1.0).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" hostname' -l 'hostname' -d 'Hostname the HTTPRoute matches, e.g. llm.example.com.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" gateway' -l 'gateway' -d 'The Gateway the HTTPRoute attaches to.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render"' -l 'model' -d 'For gemmactl: a model the pod serves (repeatable, value model.list), [ALIAS=]ORG/REPO[:QUANT] or ollama://NAME:TAG; for external-ollama: a model to route (repeatable), MODEL or ROUTE=MODEL; for ollama: a model to pull (repeatable).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" external-ip' -l 'external-ip' -d 'For external-ollama: the Ollama host\'s IP address (plain HTTP, port 11434).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" external-host' -l 'external-host' -d 'For external-ollama: the Ollama host\'s DNS name, reached over HTTPS on port 443 (e.g. an ngrok or Tailscale name).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" legacy-endpoints' -l 'legacy-endpoints' -d 'For external-ollama: render v1 Endpoints instead of an EndpointSlice.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" replicas' -l 'replicas' -d 'Pods of the server (gemmactl profile: more than one runs behind an InferencePool and its endpoint picker; give each pod its model volume with --set storage.perPod=true, or use ReadWriteMany storage).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" ctx-size' -l 'ctx-size' -d 'Context size in tokens.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" memory-limit' -l 'memory-limit' -d 'Memory limit of the server container, e.g. 4Gi.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" cpu-limit' -l 'cpu-limit' -d 'CPU limit of the server container, e.g. 2 or 1500m.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" storage-class' -l 'storage-class' -d 'Storage class of the model volume, e.g. oci-bv.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" secret-source' -l 'secret-source' -d 'external-secret (default), secret (needs --api-key-file) or none.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" api-key-file' -l 'api-key-file' -d 'For --secret-source secret: file holding the API key.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" templates' -l 'templates' -d 'Templates directory (default: the ones shipped with gemmactl). [environment: GEMMACTL_TEMPLATES]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" o output' -l 'output' -s 'o' -d 'Write one file per resource and a kustomization.yaml into this directory instead of printing.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" plan-from' -l 'plan-from' -d 'Size the server\'s memory and CPU with `gemmactl plan` for this GGUF (the model the pod runs) at the values\' ctx-size and parallel; --memory-limit and --cpu-limit still win.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" print-values' -l 'print-values' -d 'Print the effective values as YAML and exit.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" cache-dir' -l 'cache-dir' -d 'Model cache folder. Default: as llama.cpp chooses it. [environment: LLAMA_CACHE, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl render" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" url' -l 'url' -d 'The server\'s base URL. (default: http://127.0.0.1:8000) [environment: GEMMA_URL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" api-key-file' -l 'api-key-file' -d 'A file whose first key line is the API key (blank and # lines skipped). Otherwise the key comes from GEMMA_API_KEY. [environment: GEMMA_API_KEY]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" timeout' -l 'timeout' -d 'Limit for each request, e.g. 10s or 2m (default: 10s).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" insecure' -l 'insecure' -d 'Skip TLS certificate verification (for a self-signed test gateway only).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" wait' -l 'wait' -d 'Poll until the server is ready (or --timeout passes, or the key is rejected).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" interval' -l 'interval' -d 'Time between polls with --wait (default: 1s).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" url' -l 'url' -d 'The server\'s base URL. (default: http://127.0.0.1:8000) [environment: GEMMA_URL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" api-key-file' -l 'api-key-file' -d 'A file whose first key line is the API key (blank and # lines skipped). Otherwise the key comes from GEMMA_API_KEY. [environment: GEMMA_API_KEY]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" timeout' -l 'timeout' -d 'Limit for each request, e.g. 10s or 2m (default: 10s).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" insecure' -l 'insecure' -d 'Skip TLS certificate verification (for a self-signed test gateway only).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" watch' -l 'watch' -d 'Redraw every --interval (in place on a terminal) until interrupted.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" interval' -l 'interval' -d 'Time between redraws with --watch (default: 2s).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" keys-file' -l 'keys-file' -d 'A keys file read by gemmactl serve --api-key-file.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" finish' -l 'finish' -d 'Remove the old keys from --keys-file (the previous key from --tfvars, api-key-previous from --k8s-secret with --apply), keeping only the current one.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" grace' -l 'grace' -d 'Keep the old keys valid for this long (recorded in --keys-file), e.g. 24h.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" tfvars' -l 'tfvars' -d 'A terraform.tfvars file whose API key variable to replace.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" tfvars-variable' -l 'tfvars-variable' -d 'The variable to replace in --tfvars.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" k8s-secret' -l 'k8s-secret' -d 'Print (or --apply) a Kubernetes Secret with this name holding the new key.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" namespace' -l 'namespace' -d 'The Secret\'s namespace.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" secret-key' -l 'secret-key' -d 'The key inside the Secret\'s data.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" apply' -l 'apply' -d 'Pipe the Secret to `kubectl apply -f -` instead of printing it.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" prefix' -l 'prefix' -d 'The new key\'s prefix.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" show' -l 'show' -d 'Print the new key on stdout (otherwise it goes to its targets only).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" verify' -l 'verify' -d 'Check against --url that the server accepts the new key (and, with --finish, rejects the old ones).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" verify-timeout' -l 'verify-timeout' -d 'How long --verify waits for the server to reload its keys (default: 15s).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" url' -l 'url' -d 'The server\'s base URL. (default: http://127.0.0.1:8000) [environment: GEMMA_URL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" api-key-file' -l 'api-key-file' -d 'A file whose first key line is the API key (blank and # lines skipped). Otherwise the key comes from GEMMA_API_KEY. [environment: GEMMA_API_KEY]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" timeout' -l 'timeout' -d 'Limit for each request, e.g. 10s or 2m (default: 10s).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" insecure' -l 'insecure' -d 'Skip TLS certificate verification (for a self-signed test gateway only).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" url' -l 'url' -d 'The server\'s base URL. (default: http://127.0.0.1:8000) [environment: GEMMA_URL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" api-key-file' -l 'api-key-file' -d 'A file whose first key line is the API key (blank and # lines skipped). Otherwise the key comes from GEMMA_API_KEY. [environment: GEMMA_API_KEY]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" timeout' -l 'timeout' -d 'Limit for each request, e.g. 10s or 2m (default: 10s).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" insecure' -l 'insecure' -d 'Skip TLS certificate verification (for a self-signed test gateway only).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" memory-limit' -l 'memory-limit' -d 'The pod\'s memory limit to check against, e.g. 4Gi.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor"' -l 'model' -s 'm' -d 'GGUF model: a path, ORG/REPO[:QUANT] or ollama://NAME:TAG. serve takes it several times, each [ALIAS=]MODEL: the request\'s model picks one, the first is the default and loads at start, the others load when asked for. (default: the cached Gemma 3 270M Q4_K_M) [environment: GEMMA_MODEL, LLAMA_ARG_MODEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" c ctx-size' -l 'ctx-size' -s 'c' -d 'Context size in tokens, shared by the slots. (default: 4096) [environment: GEMMA_CTX_SIZE, LLAMA_ARG_CTX_SIZE]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" t threads' -l 'threads' -s 't' -d 'CPU threads for generation. (default: the CPUs this process may use) [environment: GEMMA_THREADS, LLAMA_ARG_THREADS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" b batch-size' -l 'batch-size' -s 'b' -d 'Most tokens per decode step. (default: 512) [environment: GEMMA_BATCH_SIZE, LLAMA_ARG_BATCH]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" ub ubatch-size' -l 'ubatch-size' -o 'ub' -d 'Most tokens llama.cpp computes at once within a step; sizes the compute buffer. (default: --batch-size, at most 512) [environment: GEMMA_UBATCH_SIZE, LLAMA_ARG_UBATCH]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" gpu-layers n-gpu-layers ngl' -l 'n-gpu-layers' -o 'ngl' -l 'gpu-layers' -d 'Layers offloaded to a GPU (a CPU build has none to offload to). (default: 0) [environment: GEMMA_N_GPU_LAYERS, LLAMA_ARG_N_GPU_LAYERS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" np parallel' -l 'parallel' -o 'np' -d 'Slots: requests served at once. (default: 4) [environment: GEMMA_PARALLEL, LLAMA_ARG_N_PARALLEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" namespace' -l 'namespace' -d 'Kubernetes namespace of the server\'s pods (needs kubectl).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" s selector' -s 's' -l 'selector' -d 'Label selector of the server\'s pods (needs kubectl).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" stream-check' -l 'stream-check' -d 'Send one streamed chat request and time it.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" gateway-url' -l 'gateway-url' -d 'Send the stream check through this URL (a gateway or ingress) instead of --url.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" stuck-interval' -l 'stuck-interval' -d 'Time between the two reads of /slots (default: 2s).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl help" version' -l 'version' -d 'Show the version.'
