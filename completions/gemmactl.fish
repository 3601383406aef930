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
        case 'generate'
            __gemmactl_parse_subcommand 0 'm/model=' 'n-gpu-layers=' 'log-level=' 'p/prompt=' 'n/max-tokens=' 'temperature=' 'seed=' 'stop=+' 'c/ctx-size=' 't/threads=' 'chat' 'version' 'h/help'
        case 'health'
            __gemmactl_parse_subcommand 0 'url=' 'api-key-file=' 'timeout=' 'insecure' 'json' 'wait' 'interval=' 'version' 'h/help'
        case 'slots'
            __gemmactl_parse_subcommand 0 'url=' 'api-key-file=' 'timeout=' 'insecure' 'json' 'watch' 'interval=' 'version' 'h/help'
        case 'rotate-key'
            __gemmactl_parse_subcommand 0 'keys-file=' 'finish' 'grace=' 'tfvars=' 'tfvars-variable=' 'k8s-secret=' 'namespace=' 'secret-key=' 'apply' 'prefix=' 'show' 'verify' 'verify-timeout=' 'url=' 'api-key-file=' 'timeout=' 'insecure' 'json' 'version' 'h/help'
        case 'doctor'
            __gemmactl_parse_subcommand 0 'url=' 'api-key-file=' 'timeout=' 'insecure' 'json' 'memory-limit=' 'm/model=' 'c/ctx-size=' 'parallel=' 'namespace=' 's/selector=' 'stream-check' 'gateway-url=' 'stuck-interval=' 'version' 'h/help'
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
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'generate' -d 'Generate a completion for one prompt and print it as it is generated.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'health' -d 'Check that a server is up, has loaded its model, and accepts the API key.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'slots' -d 'Show the server\'s generation slots: which are busy and how far along.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'rotate-key' -d 'Generate a new API key and put it where the server reads it, with zero downtime.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'doctor' -d 'Run the troubleshooting checklist and print a finding and a fix for each check.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_positional "gemmactl" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" m model' -s 'm' -l 'model' -d 'Path of a GGUF model file. Default: the cached Gemma 3 270M Q4_K_M. [environment: GEMMA_MODEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" n-gpu-layers ngl' -l 'n-gpu-layers' -o 'ngl' -d 'Layers to offload to a GPU (0 on CPU builds). [environment: GEMMA_N_GPU_LAYERS]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" log-level' -l 'log-level' -d 'trace, debug, info, notice, warning, error or critical. [environment: GEMMA_LOG_LEVEL]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" p prompt' -l 'prompt' -s 'p' -d 'The prompt text.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" max-tokens n' -l 'max-tokens' -s 'n' -d 'Most tokens to generate.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" temperature' -l 'temperature' -d 'Sampling temperature; 0 is greedy and deterministic.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" seed' -l 'seed' -d 'Random seed for sampling.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate"' -l 'stop' -d 'Stop when this text is generated (repeatable).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" c ctx-size' -l 'ctx-size' -s 'c' -d 'Context size in tokens.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" t threads' -l 'threads' -s 't' -d 'CPU threads (default: the CPUs this process may use).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" chat' -l 'chat' -d 'Format the prompt as a user turn with the model\'s chat template.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl generate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" url' -l 'url' -d 'The server\'s base URL. [environment: GEMMA_URL] (default: http://127.0.0.1:8000)' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" api-key-file' -l 'api-key-file' -d 'A file whose first key line is the API key (blank and # lines skipped). Otherwise the key comes from GEMMA_API_KEY. [environment: GEMMA_API_KEY]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" timeout' -l 'timeout' -d 'Limit for each request, e.g. 10s or 2m.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" insecure' -l 'insecure' -d 'Skip TLS certificate verification (for a self-signed test gateway only).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" wait' -l 'wait' -d 'Poll until the server is ready (or --timeout passes, or the key is rejected).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" interval' -l 'interval' -d 'Time between polls with --wait.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl health" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" url' -l 'url' -d 'The server\'s base URL. [environment: GEMMA_URL] (default: http://127.0.0.1:8000)' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" api-key-file' -l 'api-key-file' -d 'A file whose first key line is the API key (blank and # lines skipped). Otherwise the key comes from GEMMA_API_KEY. [environment: GEMMA_API_KEY]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" timeout' -l 'timeout' -d 'Limit for each request, e.g. 10s or 2m.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" insecure' -l 'insecure' -d 'Skip TLS certificate verification (for a self-signed test gateway only).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" watch' -l 'watch' -d 'Redraw every --interval (in place on a terminal) until interrupted.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" interval' -l 'interval' -d 'Time between redraws with --watch.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl slots" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" keys-file' -l 'keys-file' -d 'A keys file read by gemmactl serve --api-key-file.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" finish' -l 'finish' -d 'Remove the old keys from --keys-file, keeping only the current one.'
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
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" verify-timeout' -l 'verify-timeout' -d 'How long --verify waits for the server to reload its keys.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" url' -l 'url' -d 'The server\'s base URL. [environment: GEMMA_URL] (default: http://127.0.0.1:8000)' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" api-key-file' -l 'api-key-file' -d 'A file whose first key line is the API key (blank and # lines skipped). Otherwise the key comes from GEMMA_API_KEY. [environment: GEMMA_API_KEY]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" timeout' -l 'timeout' -d 'Limit for each request, e.g. 10s or 2m.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" insecure' -l 'insecure' -d 'Skip TLS certificate verification (for a self-signed test gateway only).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl rotate-key" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" url' -l 'url' -d 'The server\'s base URL. [environment: GEMMA_URL] (default: http://127.0.0.1:8000)' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" api-key-file' -l 'api-key-file' -d 'A file whose first key line is the API key (blank and # lines skipped). Otherwise the key comes from GEMMA_API_KEY. [environment: GEMMA_API_KEY]' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" timeout' -l 'timeout' -d 'Limit for each request, e.g. 10s or 2m.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" insecure' -l 'insecure' -d 'Skip TLS certificate verification (for a self-signed test gateway only).'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" json' -l 'json' -d 'Print JSON for scripts instead of text.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" memory-limit' -l 'memory-limit' -d 'The pod\'s memory limit to check against, e.g. 4Gi.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" m model' -s 'm' -l 'model' -d 'The GGUF the server runs (default: the cached default model).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" c ctx-size' -l 'ctx-size' -s 'c' -d 'The server\'s context size (-c).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" np parallel' -l 'parallel' -o 'np' -d 'The server\'s slots (-np).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" namespace' -l 'namespace' -d 'Kubernetes namespace of the server\'s pods (needs kubectl).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" s selector' -s 's' -l 'selector' -d 'Label selector of the server\'s pods (needs kubectl).' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" stream-check' -l 'stream-check' -d 'Send one streamed chat request and time it.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" gateway-url' -l 'gateway-url' -d 'Send the stream check through this URL (a gateway or ingress) instead of --url.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" stuck-interval' -l 'stuck-interval' -d 'Time between the two reads of /slots.' -rfka ''
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" version' -l 'version' -d 'Show the version.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl doctor" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'gemmactl' -n '__gemmactl_should_offer_completions_for_flags_or_options "gemmactl help" version' -l 'version' -d 'Show the version.'
