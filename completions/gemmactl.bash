#!/bin/bash

__gemmactl_cursor_index_in_current_word() {
    local remaining="${COMP_LINE}"

    local word
    for word in "${COMP_WORDS[@]::COMP_CWORD}"; do
        remaining="${remaining##*([[:space:]])"${word}"*([[:space:]])}"
    done

    local -ir index="$((COMP_POINT - ${#COMP_LINE} + ${#remaining}))"
    if [[ "${index}" -le 0 ]]; then
        printf 0
    else
        printf %s "${index}"
    fi
}

# positional arguments:
#
# - 1: the current (sub)command's count of positional arguments
#
# required variables:
#
# - repeating_flags: the repeating flags that the current (sub)command can accept
# - non_repeating_flags: the non-repeating flags that the current (sub)command can accept
# - repeating_options: the repeating options that the current (sub)command can accept
# - non_repeating_options: the non-repeating options that the current (sub)command can accept
# - positional_number: value ignored
# - unparsed_words: unparsed words from the current command line
#
# modified variables:
#
# - non_repeating_flags: remove flags for this (sub)command that are already on the command line
# - non_repeating_options: remove options for this (sub)command that are already on the command line
# - positional_number: set to the current positional number
# - unparsed_words: remove all flags, options, and option values for this (sub)command
__gemmactl_offer_flags_options() {
    local -ir positional_count="${1}"
    positional_number=0

    local was_flag_option_terminator_seen=false
    local is_parsing_option_value=false

    local -ar unparsed_word_indices=("${!unparsed_words[@]}")
    local -i word_index
    for word_index in "${unparsed_word_indices[@]}"; do
        if "${is_parsing_option_value}"; then
            # This word is an option value:
            # Reset marker for next word iff not currently the last word
            [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]] && is_parsing_option_value=false
            unset "unparsed_words[${word_index}]"
            # Do not process this word as a flag or an option
            continue
        fi

        local word="${unparsed_words["${word_index}"]}"
        if ! "${was_flag_option_terminator_seen}"; then
            case "${word}" in
            --)
                unset "unparsed_words[${word_index}]"
                # by itself -- is a flag/option terminator, but if it is the last word, it is the start of a completion
                if [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]]; then
                    was_flag_option_terminator_seen=true
                fi
                continue
                ;;
            -*)
                # ${word} is a flag or an option
                # If ${word} is an option, mark that the next word to be parsed is an option value
                local option
                for option in "${repeating_options[@]}" "${non_repeating_options[@]}"; do
                    [[ "${word}" = "${option}" ]] && is_parsing_option_value=true && break
                done

                # Remove ${word} from ${non_repeating_flags} or ${non_repeating_options} so it isn't offered again
                local not_found=true
                local -i index
                for index in "${!non_repeating_flags[@]}"; do
                    if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                        unset "non_repeating_flags[${index}]"
                        non_repeating_flags=("${non_repeating_flags[@]}")
                        not_found=false
                        break
                    fi
                done
                if "${not_found}"; then
                    for index in "${!non_repeating_flags[@]}"; do
                        if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                            unset "non_repeating_flags[${index}]"
                            non_repeating_flags=("${non_repeating_flags[@]}")
                            break
                        fi
                    done
                fi
                unset "unparsed_words[${word_index}]"
                continue
                ;;
            esac
        fi

        # ${word} is neither a flag, nor an option, nor an option value
        if [[ "${positional_number}" -lt "${positional_count}" || "${positional_count}" -lt 0 ]]; then
            # ${word} is a positional
            ((positional_number++))
            unset "unparsed_words[${word_index}]"
        else
            if [[ -z "${word}" ]]; then
                # Could be completing a flag, option, or subcommand
                positional_number=-1
            else
                # ${word} is a subcommand or invalid, so stop processing this (sub)command
                positional_number=-2
            fi
            break
        fi
    done

    unparsed_words=("${unparsed_words[@]}")

    if\
        ! "${was_flag_option_terminator_seen}"\
        && ! "${is_parsing_option_value}"\
        && [[ ("${cur}" = -* && "${positional_number}" -ge 0) || "${positional_number}" -eq -1 ]]
    then
        COMPREPLY+=($(compgen -W "${repeating_flags[*]} ${non_repeating_flags[*]} ${repeating_options[*]} ${non_repeating_options[*]}" -- "${cur}"))
    fi
}

__gemmactl_add_completions() {
    local completion
    while IFS='' read -r completion; do
        COMPREPLY+=("${completion}")
    done < <(IFS=$'\n' compgen "${@}" -- "${cur}")
}

__gemmactl_custom_complete() {
    if [[ -n "${cur}" || -z ${COMP_WORDS[${COMP_CWORD}]} || "${COMP_LINE:${COMP_POINT}:1}" != ' ' ]]; then
        local -ar words=("${COMP_WORDS[@]}")
    else
        local -ar words=("${COMP_WORDS[@]::${COMP_CWORD}}" '' "${COMP_WORDS[@]:${COMP_CWORD}}")
    fi

    "${COMP_WORDS[0]}" "${@}" "${words[@]}"
}

_gemmactl() {
    local state
    state="$(shopt -p;shopt -po)"
    trap "${state//$'\n'/;}" RETURN
    shopt -s extglob
    set +o history +o posix

    local -xr SAP_SHELL=bash
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(IFS='.';printf %s "${BASH_VERSINFO[*]}")"
    local -r SAP_SHELL_VERSION

    local -r cur="${2}"
    local -r prev="${3}"

    local -i positional_number
    local -a unparsed_words=("${COMP_WORDS[@]:1:${COMP_CWORD}}")

    local -a repeating_flags=()
    local -a non_repeating_flags=(--version -h --help)
    local -a repeating_options=()
    local -a non_repeating_options=()
    __gemmactl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    serve|generate|pull|models|inspect|plan|render|health|slots|rotate-key|doctor|help)
        # Offer subcommand argument completions
        "_gemmactl_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'serve generate pull models inspect plan render health slots rotate-key doctor help' -- "${cur}"))
        ;;
    esac
}

_gemmactl_serve() {
    repeating_flags=()
    non_repeating_flags=(--offline --deterministic --no-models-autoload --allow-model-management --no-auth --jinja --no-jinja --slots --no-slots --metrics --no-metrics --props --log-prompts --verbose -v --log-verbose --version -h --help)
    repeating_options=(--model -m)
    non_repeating_options=(--ctx-size -c --threads -t --batch-size -b --ubatch-size -ub --n-gpu-layers -ngl --gpu-layers --parallel -np --hf-repo -hf -hfr --hf-file -hff --threads-batch --alias -a --tags --models-max --memory-budget --keep-alive --models-dir --models-preset --sleep-idle-seconds --host --port --api-key-file --cors-origins --max-body-size --max-queue --request-timeout --shutdown-grace --sse-ping-interval --cache-ram -cram --slot-save-path --chat-template --chat-template-file --reasoning-format --reasoning-budget --pooling --spec-type --spec-draft-model -md --model-draft --spec-draft-n-max --spec-draft-n-min --metrics-port --temp --temperature --seed -s --n-predict -n --predict --top-k --top-p --min-p --repeat-penalty --log-level)
    __gemmactl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--model'|'-m')
        return
        ;;
    '--ctx-size'|'-c')
        return
        ;;
    '--threads'|'-t')
        return
        ;;
    '--batch-size'|'-b')
        return
        ;;
    '--ubatch-size'|'-ub')
        return
        ;;
    '--n-gpu-layers'|'-ngl'|'--gpu-layers')
        return
        ;;
    '--parallel'|'-np')
        return
        ;;
    '--hf-repo'|'-hf'|'-hfr')
        return
        ;;
    '--hf-file'|'-hff')
        return
        ;;
    '--threads-batch')
        return
        ;;
    '--alias'|'-a')
        return
        ;;
    '--tags')
        return
        ;;
    '--models-max')
        return
        ;;
    '--memory-budget')
        return
        ;;
    '--keep-alive')
        return
        ;;
    '--models-dir')
        return
        ;;
    '--models-preset')
        return
        ;;
    '--sleep-idle-seconds')
        return
        ;;
    '--host')
        return
        ;;
    '--port')
        return
        ;;
    '--api-key-file')
        return
        ;;
    '--cors-origins')
        return
        ;;
    '--max-body-size')
        return
        ;;
    '--max-queue')
        return
        ;;
    '--request-timeout')
        return
        ;;
    '--shutdown-grace')
        return
        ;;
    '--sse-ping-interval')
        return
        ;;
    '--cache-ram'|'-cram')
        return
        ;;
    '--slot-save-path')
        return
        ;;
    '--chat-template')
        return
        ;;
    '--chat-template-file')
        return
        ;;
    '--reasoning-format')
        return
        ;;
    '--reasoning-budget')
        return
        ;;
    '--pooling')
        return
        ;;
    '--spec-type')
        return
        ;;
    '--spec-draft-model'|'-md'|'--model-draft')
        return
        ;;
    '--spec-draft-n-max')
        return
        ;;
    '--spec-draft-n-min')
        return
        ;;
    '--metrics-port')
        return
        ;;
    '--temp'|'--temperature')
        return
        ;;
    '--seed'|'-s')
        return
        ;;
    '--n-predict'|'-n'|'--predict')
        return
        ;;
    '--top-k')
        return
        ;;
    '--top-p')
        return
        ;;
    '--min-p')
        return
        ;;
    '--repeat-penalty')
        return
        ;;
    '--log-level')
        return
        ;;
    esac
}

_gemmactl_generate() {
    repeating_flags=()
    non_repeating_flags=(--chat --version -h --help)
    repeating_options=(--model -m --stop)
    non_repeating_options=(--ctx-size -c --threads -t --batch-size -b --ubatch-size -ub --n-gpu-layers -ngl --gpu-layers --log-level --prompt -p --max-tokens -n --temperature --seed)
    __gemmactl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--model'|'-m')
        return
        ;;
    '--ctx-size'|'-c')
        return
        ;;
    '--threads'|'-t')
        return
        ;;
    '--batch-size'|'-b')
        return
        ;;
    '--ubatch-size'|'-ub')
        return
        ;;
    '--n-gpu-layers'|'-ngl'|'--gpu-layers')
        return
        ;;
    '--log-level')
        return
        ;;
    '--prompt'|'-p')
        return
        ;;
    '--max-tokens'|'-n')
        return
        ;;
    '--temperature')
        return
        ;;
    '--seed')
        return
        ;;
    '--stop')
        return
        ;;
    esac
}

_gemmactl_pull() {
    repeating_flags=()
    non_repeating_flags=(--offline --json --quiet -q --version -h --help)
    repeating_options=()
    non_repeating_options=(--hf-repo --hf-file --revision --sha256 --cache-dir --token-file)
    __gemmactl_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--hf-repo')
        return
        ;;
    '--hf-file')
        return
        ;;
    '--revision')
        return
        ;;
    '--sha256')
        return
        ;;
    '--cache-dir')
        return
        ;;
    '--token-file')
        return
        ;;
    esac
}

_gemmactl_models() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __gemmactl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    list|rm)
        # Offer subcommand argument completions
        "_gemmactl_models_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'list rm' -- "${cur}"))
        ;;
    esac
}

_gemmactl_models_list() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--cache-dir)
    __gemmactl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--cache-dir')
        return
        ;;
    esac
}

_gemmactl_models_rm() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--cache-dir)
    __gemmactl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--cache-dir')
        return
        ;;
    esac
}

_gemmactl_inspect() {
    repeating_flags=()
    non_repeating_flags=(--json --metadata --version -h --help)
    repeating_options=()
    non_repeating_options=(--cache-dir)
    __gemmactl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--cache-dir')
        return
        ;;
    esac
}

_gemmactl_plan() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=(--model -m)
    non_repeating_options=(--ctx-size -c --threads -t --batch-size -b --ubatch-size -ub --n-gpu-layers -ngl --gpu-layers --parallel -np --cache-type-k -ctk --cache-type-v -ctv --models-max --memory-limit --spec-draft-model -md --model-draft --cache-dir)
    __gemmactl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--model'|'-m')
        return
        ;;
    '--ctx-size'|'-c')
        return
        ;;
    '--threads'|'-t')
        return
        ;;
    '--batch-size'|'-b')
        return
        ;;
    '--ubatch-size'|'-ub')
        return
        ;;
    '--n-gpu-layers'|'-ngl'|'--gpu-layers')
        return
        ;;
    '--parallel'|'-np')
        return
        ;;
    '--cache-type-k'|'-ctk')
        return
        ;;
    '--cache-type-v'|'-ctv')
        return
        ;;
    '--models-max')
        return
        ;;
    '--memory-limit')
        return
        ;;
    '--spec-draft-model'|'-md'|'--model-draft')
        return
        ;;
    '--cache-dir')
        return
        ;;
    esac
}

_gemmactl_render() {
    repeating_flags=()
    non_repeating_flags=(--legacy-endpoints --print-values --version -h --help)
    repeating_options=(--set --model)
    non_repeating_options=(--values --profile --name --namespace --image --hostname --gateway --external-ip --external-host --replicas --ctx-size --memory-limit --cpu-limit --storage-class --secret-source --api-key-file --templates --output -o --plan-from --cache-dir)
    __gemmactl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--values')
        return
        ;;
    '--set')
        return
        ;;
    '--profile')
        return
        ;;
    '--name')
        return
        ;;
    '--namespace')
        return
        ;;
    '--image')
        return
        ;;
    '--hostname')
        return
        ;;
    '--gateway')
        return
        ;;
    '--model')
        return
        ;;
    '--external-ip')
        return
        ;;
    '--external-host')
        return
        ;;
    '--replicas')
        return
        ;;
    '--ctx-size')
        return
        ;;
    '--memory-limit')
        return
        ;;
    '--cpu-limit')
        return
        ;;
    '--storage-class')
        return
        ;;
    '--secret-source')
        return
        ;;
    '--api-key-file')
        return
        ;;
    '--templates')
        return
        ;;
    '--output'|'-o')
        return
        ;;
    '--plan-from')
        return
        ;;
    '--cache-dir')
        return
        ;;
    esac
}

_gemmactl_health() {
    repeating_flags=()
    non_repeating_flags=(--insecure --json --wait --version -h --help)
    repeating_options=()
    non_repeating_options=(--url --api-key-file --timeout --interval)
    __gemmactl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--url')
        return
        ;;
    '--api-key-file')
        return
        ;;
    '--timeout')
        return
        ;;
    '--interval')
        return
        ;;
    esac
}

_gemmactl_slots() {
    repeating_flags=()
    non_repeating_flags=(--insecure --json --watch --version -h --help)
    repeating_options=()
    non_repeating_options=(--url --api-key-file --timeout --interval)
    __gemmactl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--url')
        return
        ;;
    '--api-key-file')
        return
        ;;
    '--timeout')
        return
        ;;
    '--interval')
        return
        ;;
    esac
}

_gemmactl_rotate-key() {
    repeating_flags=()
    non_repeating_flags=(--finish --apply --show --verify --insecure --json --version -h --help)
    repeating_options=()
    non_repeating_options=(--keys-file --grace --tfvars --tfvars-variable --k8s-secret --namespace --secret-key --prefix --verify-timeout --url --api-key-file --timeout)
    __gemmactl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--keys-file')
        return
        ;;
    '--grace')
        return
        ;;
    '--tfvars')
        return
        ;;
    '--tfvars-variable')
        return
        ;;
    '--k8s-secret')
        return
        ;;
    '--namespace')
        return
        ;;
    '--secret-key')
        return
        ;;
    '--prefix')
        return
        ;;
    '--verify-timeout')
        return
        ;;
    '--url')
        return
        ;;
    '--api-key-file')
        return
        ;;
    '--timeout')
        return
        ;;
    esac
}

_gemmactl_doctor() {
    repeating_flags=()
    non_repeating_flags=(--insecure --json --stream-check --version -h --help)
    repeating_options=(--model -m)
    non_repeating_options=(--url --api-key-file --timeout --memory-limit --ctx-size -c --threads -t --batch-size -b --ubatch-size -ub --n-gpu-layers -ngl --gpu-layers --parallel -np --namespace -s --selector --gateway-url --stuck-interval)
    __gemmactl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--url')
        return
        ;;
    '--api-key-file')
        return
        ;;
    '--timeout')
        return
        ;;
    '--memory-limit')
        return
        ;;
    '--model'|'-m')
        return
        ;;
    '--ctx-size'|'-c')
        return
        ;;
    '--threads'|'-t')
        return
        ;;
    '--batch-size'|'-b')
        return
        ;;
    '--ubatch-size'|'-ub')
        return
        ;;
    '--n-gpu-layers'|'-ngl'|'--gpu-layers')
        return
        ;;
    '--parallel'|'-np')
        return
        ;;
    '--namespace')
        return
        ;;
    '-s'|'--selector')
        return
        ;;
    '--gateway-url')
        return
        ;;
    '--stuck-interval')
        return
        ;;
    esac
}

_gemmactl_help() {
    repeating_flags=()
    non_repeating_flags=(--version)
    repeating_options=()
    non_repeating_options=()
    __gemmactl_offer_flags_options -1
}

complete -o filenames -F _gemmactl gemmactl
