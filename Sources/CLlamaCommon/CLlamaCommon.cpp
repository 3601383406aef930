#include "CLlamaCommon.h"

#include <llama-common/chat.h>
#include <llama-common/json-schema-to-grammar.h>
#include <llama-common/chat-peg-parser.h>
#include <llama-common/peg-parser.h>
#include <llama-common/reasoning-budget.h>
#include <llama-common/speculative.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct gemma_chat_templates {
    common_chat_templates_ptr templates;
};

struct gemma_chat_parser {
    common_chat_parser_params params;
    /// The reply so far and what it parsed to, as llama-server's task_result_state keeps them.
    std::string text;
    common_chat_msg message;
};

namespace {

char *copy(const std::string &text) {
    char *out = static_cast<char *>(std::malloc(text.size() + 1));
    if (out != nullptr) { std::memcpy(out, text.c_str(), text.size() + 1); }
    return out;
}

/// Runs `body`, turning any C++ exception into *error; returns 0 on success.
template <typename Body> int guarded(char **error, Body body) {
    *error = nullptr;
    try {
        return body();
    } catch (const std::exception &e) {
        *error = copy(e.what());
    } catch (...) {
        *error = copy("unknown error");
    }
    return 1;
}

} // namespace

extern "C" int gemma_json_schema_to_grammar(const char *schema_json, char **grammar, char **error) {
    *grammar = nullptr;
    return guarded(error, [&] {
        common_json schema = common_json::parse(schema_json);
        *grammar = copy(json_schema_to_grammar(schema, true));
        return *grammar == nullptr ? 1 : 0;
    });
}

extern "C" gemma_chat_templates *gemma_chat_templates_init(const llama_model *model, const char *template_source, char **error) {
    gemma_chat_templates *result = nullptr;
    guarded(error, [&] {
        auto templates = common_chat_templates_init(model, template_source == nullptr ? "" : template_source);
        result = new gemma_chat_templates{std::move(templates)};
        return 0;
    });
    return result;
}

extern "C" void gemma_chat_templates_free(gemma_chat_templates *templates) { delete templates; }

extern "C" int gemma_chat_templates_apply(const gemma_chat_templates *templates, const char *messages_json,
                                          bool add_generation_prompt, const char *kwargs_json, char **prompt, char **error) {
    *prompt = nullptr;
    return guarded(error, [&] {
        common_chat_templates_inputs inputs;
        inputs.messages = common_chat_msgs_parse_oaicompat(common_json::parse(messages_json));
        inputs.add_generation_prompt = add_generation_prompt;
        inputs.use_jinja = true;
        if (kwargs_json != nullptr) {
            // Named: a range-for over a temporary's items() would outlive the temporary.
            const common_json kwargs = common_json::parse(kwargs_json);
            for (const auto &item : kwargs.items()) {
                inputs.chat_template_kwargs[item.key()] = item.value().dump();
            }
        }
        *prompt = copy(common_chat_templates_apply(templates->templates.get(), inputs).prompt);
        return *prompt == nullptr ? 1 : 0;
    });
}

extern "C" char *gemma_chat_templates_source(const gemma_chat_templates *templates) {
    try {
        return copy(common_chat_templates_source(templates->templates.get()));
    } catch (...) {
        return nullptr;
    }
}

extern "C" char *gemma_chat_templates_caps(const gemma_chat_templates *templates) {
    try {
        common_json caps = common_json::object();
        for (const auto &[name, value] : common_chat_templates_get_caps(templates->templates.get())) { caps[name] = value; }
        return copy(caps.dump());
    } catch (...) {
        return nullptr;
    }
}

namespace {

const char *trigger_type_name(common_grammar_trigger_type type) {
    switch (type) {
    case COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN: return "token";
    case COMMON_GRAMMAR_TRIGGER_TYPE_WORD: return "word";
    case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN: return "pattern";
    case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN_FULL: return "pattern_full";
    }
    return "word";
}

common_json strings(const std::vector<std::string> &values) {
    common_json array = common_json::array();
    for (const auto &value : values) { array.push_back(value); }
    return array;
}

common_json message_json(const common_chat_msg &message) {
    common_json calls = common_json::array();
    for (const auto &call : message.tool_calls) {
        calls.push_back(common_json::object({{"name", call.name}, {"id", call.id}, {"arguments", call.arguments}}));
    }
    return common_json::object({{"content", message.content},
                                {"reasoning_content", message.reasoning_content},
                                {"tool_calls", calls}});
}

/// Whether the complete reply `text` breaks off inside a tool call. common_chat_parse is lenient at
/// the end of the text, so such a reply parses to a call with half its arguments (or, cut in the
/// name, to no call and the rest dropped); its parse tree marks what was cut off as partial, which
/// this reads from a parse run as common_chat_peg_parse runs it.
bool ends_inside_tool_call(const common_chat_parser_params &params, const std::string &text) {
    if (params.parser.empty()) { return false; }
    common_peg_parse_context context(params.generation_prompt + text, COMMON_PEG_PARSE_FLAG_LENIENT);
    params.parser.parse(context);
    for (common_peg_ast_id id = 0; id < context.ast.size(); ++id) {
        const auto &node = context.ast.get(id);
        // Tool tags mark a call's parts; a cut in the text that opens a call (Gemma 4's
        // `<|tool_call>call:`) lies in a rule of the call syntax, untagged.
        const bool in_tool_syntax = node.tag.rfind(common_chat_peg_builder::TOOL, 0) == 0 || node.rule.find("tool") != std::string::npos;
        if (node.is_partial && in_tool_syntax) { return true; }
    }
    return false;
}

} // namespace

// The request's fields are read as llama-server's oaicompat_chat_params_parse reads a chat
// completion's body (server-common.cpp), so that prompts, grammars and parsers are the same.
extern "C" int gemma_chat_templates_render(const gemma_chat_templates *templates, const char *request_json,
                                           char **result_json, char **error) {
    *result_json = nullptr;
    return guarded(error, [&] {
        const common_json request = common_json::parse(request_json);
        const auto caps = common_chat_templates_get_caps(templates->templates.get());
        common_chat_templates_inputs inputs;
        inputs.use_jinja = true;
        inputs.messages = common_chat_msgs_parse_oaicompat(request.at("messages"));
        if (request.contains("tools")) { inputs.tools = common_chat_tools_parse_oaicompat(request.at("tools")); }
        inputs.tool_choice = common_chat_tool_choice_parse_oaicompat(request.value("tool_choice", std::string("auto")));
        const auto parallel = caps.find("supports_parallel_tool_calls");
        inputs.parallel_tool_calls = request.value("parallel_tool_calls", parallel != caps.end() && parallel->second);
        inputs.add_generation_prompt = request.value("add_generation_prompt", true);
        inputs.reasoning_format = common_reasoning_format_from_name(request.value("reasoning_format", std::string("none")));
        inputs.enable_thinking = request.value("enable_thinking", true);
        if (request.contains("json_schema") && !request.at("json_schema").is_null()) {
            inputs.json_schema = request.at("json_schema").dump();
        }
        inputs.grammar = request.value("grammar", std::string());
        if (request.contains("chat_template_kwargs")) {
            // Named: a range-for over a temporary's items() would outlive the temporary.
            const common_json kwargs = request.at("chat_template_kwargs");
            for (const auto &item : kwargs.items()) { inputs.chat_template_kwargs[item.key()] = item.value().dump(); }
        }
        const auto thinking = inputs.chat_template_kwargs.find("enable_thinking");
        if (thinking != inputs.chat_template_kwargs.end()) {
            if (thinking->second == "true") {
                inputs.enable_thinking = true;
            } else if (thinking->second == "false") {
                inputs.enable_thinking = false;
            } else if (!thinking->second.empty() && thinking->second[0] == '"') {
                throw std::invalid_argument("invalid type for \"enable_thinking\" (expected boolean, got string)");
            }
        }
        const std::string effort = request.value("reasoning_effort", std::string());
        if (effort == "none") {
            inputs.enable_thinking = false;
            inputs.chat_template_kwargs.erase("reasoning_effort");
        } else if (!effort.empty()) {
            inputs.chat_template_kwargs["reasoning_effort"] = common_json(effort).dump();
        }

        const common_chat_params params = common_chat_templates_apply(templates->templates.get(), inputs);
        common_json triggers = common_json::array();
        for (const auto &trigger : params.grammar_triggers) {
            triggers.push_back(common_json::object({{"type", trigger_type_name(trigger.type)}, {"value", trigger.value}}));
        }
        const common_json parser = common_json::object({
            {"format", static_cast<int>(params.format)},
            {"generation_prompt", params.generation_prompt},
            {"parser", params.parser},
        });
        const common_json result = common_json::object({
            {"prompt", params.prompt},
            {"format", common_chat_format_name(params.format)},
            {"grammar", params.grammar},
            {"grammar_lazy", params.grammar_lazy},
            {"grammar_triggers", triggers},
            {"preserved_tokens", strings(params.preserved_tokens)},
            {"additional_stops", strings(params.additional_stops)},
            {"generation_prompt", params.generation_prompt},
            {"supports_thinking", params.supports_thinking},
            {"thinking_start_tag", params.thinking_start_tag},
            {"thinking_end_tags", strings(params.thinking_end_tags)},
            {"parser", parser},
        });
        *result_json = copy(result.dump());
        return *result_json == nullptr ? 1 : 0;
    });
}

extern "C" gemma_chat_parser *gemma_chat_parser_init(const char *parser_json, char **error) {
    gemma_chat_parser *result = nullptr;
    guarded(error, [&] {
        const common_json spec = common_json::parse(parser_json);
        const int format = spec.at("format").get<int>();
        if (format < 0 || format >= COMMON_CHAT_FORMAT_COUNT) { throw std::invalid_argument("unknown chat format " + std::to_string(format)); }
        auto parser = std::make_unique<gemma_chat_parser>();
        parser->params.format = static_cast<common_chat_format>(format);
        parser->params.generation_prompt = spec.value("generation_prompt", std::string());
        // Without the parser rendering built, common_chat_parse treats every reply as plain content.
        const std::string arena = spec.value("parser", std::string());
        if (!arena.empty()) { parser->params.parser.load(arena); }
        result = parser.release();
        return 0;
    });
    return result;
}

extern "C" void gemma_chat_parser_free(gemma_chat_parser *parser) { delete parser; }

extern "C" int gemma_chat_parser_feed(gemma_chat_parser *parser, const char *text, bool is_partial, char **diffs_json, char **error) {
    *diffs_json = nullptr;
    return guarded(error, [&] {
        const std::string whole = parser->text + text;
        common_chat_msg message;
        try {
            message = common_chat_parse(whole, is_partial, parser->params);
        } catch (const std::exception &e) {
            if (is_partial) { throw; }
            *error = copy(e.what());
            return 2;
        }
        if (!is_partial && ends_inside_tool_call(parser->params, whole)) {
            *error = copy("the reply ends inside a tool call");
            return 2;
        }
        common_json diffs = common_json::array();
        // As llama-server: an empty parse (nothing recognisable yet) keeps the previous message.
        if (!message.empty()) {
            for (const auto &diff : common_chat_msg_diff::compute_diffs(parser->message, message)) {
                common_json item = common_json::object();
                if (!diff.reasoning_content_delta.empty()) { item["reasoning_content"] = diff.reasoning_content_delta; }
                if (!diff.content_delta.empty()) { item["content"] = diff.content_delta; }
                if (diff.tool_call_index != std::string::npos) {
                    item["tool_call_index"] = diff.tool_call_index;
                    if (!diff.tool_call_delta.name.empty()) { item["name"] = diff.tool_call_delta.name; }
                    if (!diff.tool_call_delta.id.empty()) { item["id"] = diff.tool_call_delta.id; }
                    item["arguments"] = diff.tool_call_delta.arguments;
                }
                if (!item.empty()) { diffs.push_back(item); }
            }
            parser->message = std::move(message);
        }
        parser->text = whole;
        *diffs_json = copy(diffs.dump());
        return *diffs_json == nullptr ? 1 : 0;
    });
}

extern "C" char *gemma_chat_parser_message(const gemma_chat_parser *parser) {
    try {
        return copy(message_json(parser->message).dump());
    } catch (...) {
        return nullptr;
    }
}

// MARK: Speculative decoding

struct gemma_speculator {
    common_params_speculative params;
    common_speculative_ptr speculative;
    /// Per sequence, what common_speculative_draft reads and writes through its draft parameters.
    std::vector<llama_tokens> histories;
    std::vector<llama_tokens> drafts;
};

namespace {

/// The names in a comma-separated list, as llama-server's --spec-type splits it.
std::vector<common_speculative_type> speculative_types(const char *types) {
    std::vector<std::string> names;
    std::string list(types);
    size_t start = 0;
    while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) { end = list.size(); }
        names.push_back(list.substr(start, end - start));
        start = end + 1;
    }
    try {
        return common_speculative_types_from_names(names);
    } catch (const std::invalid_argument &e) {
        throw std::invalid_argument(std::string(e.what()) + " (known: " + common_speculative_all_types_str() + ")");
    }
}

bool is_off(const std::vector<common_speculative_type> &types) {
    return types.empty() || (types.size() == 1 && types[0] == COMMON_SPECULATIVE_TYPE_NONE);
}

} // namespace

extern "C" int gemma_speculative_types_check(const char *types, char **canonical, char **error) {
    *canonical = nullptr;
    return guarded(error, [&] {
        const auto parsed = speculative_types(types);
        for (const auto type : parsed) {
            // Of the types that draft with a model, gemmactl runs draft-simple (a plain smaller model);
            // the others need heads (MTP, EAGLE3, DFlash) it does not load.
            if (type < COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE && type != COMMON_SPECULATIVE_TYPE_NONE &&
                type != COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE) {
                throw std::invalid_argument("speculative type " + common_speculative_type_to_str(type) +
                                            " is not supported; the types are ngram-simple, ngram-map-k, ngram-map-k4v, "
                                            "ngram-mod, ngram-cache, and draft-simple with a draft model");
            }
        }
        *canonical = copy(is_off(parsed) ? std::string("none") : common_speculative_type_name_str(parsed));
        return *canonical == nullptr ? 1 : 0;
    });
}

extern "C" gemma_speculator *gemma_speculator_init(const char *types, uint32_t n_seq, const gemma_draft_model *draft_model,
                                                   char **error) {
    gemma_speculator *result = nullptr;
    guarded(error, [&] {
        auto speculator = std::make_unique<gemma_speculator>();
        speculator->params.types = speculative_types(types);
        if (is_off(speculator->params.types)) { return 0; }
        const bool drafts_with_model = std::find(speculator->params.types.begin(), speculator->params.types.end(),
                                                 COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE) != speculator->params.types.end();
        if (drafts_with_model != (draft_model != nullptr)) {
            throw std::invalid_argument(drafts_with_model ? "draft-simple needs a draft model"
                                                          : "a draft model is given but draft-simple is not among the types");
        }
        if (draft_model) {
            auto &draft = speculator->params.draft;
            draft.ctx_tgt = draft_model->target;
            draft.ctx_dft = draft_model->draft;
            draft.n_max = draft_model->n_max;
            draft.n_min = draft_model->n_min;
        }
        speculator->speculative.reset(common_speculative_init(speculator->params, n_seq));
        if (!speculator->speculative) { throw std::runtime_error("common_speculative_init made no speculator"); }
        speculator->histories.resize(n_seq);
        speculator->drafts.resize(n_seq);
        result = speculator.release();
        return 0;
    });
    return result;
}

extern "C" void gemma_speculator_free(gemma_speculator *speculator) { delete speculator; }

extern "C" void gemma_speculator_begin(gemma_speculator *speculator, int32_t seq, const int32_t *prompt, size_t n_prompt) {
    common_speculative_begin(speculator->speculative.get(), seq, llama_tokens(prompt, prompt + n_prompt));
}

extern "C" void gemma_speculator_request(gemma_speculator *speculator, int32_t seq, const int32_t *history, size_t n_history,
                                         int32_t last, int32_t n_max) {
    auto &history_tokens = speculator->histories[seq];
    history_tokens.assign(history, history + n_history);
    auto &draft = speculator->drafts[seq];
    draft.clear();
    auto &params = common_speculative_get_draft_params(speculator->speculative.get(), seq);
    params.drafting = true;
    params.n_max = n_max;
    params.pos0 = static_cast<llama_pos>(n_history);
    params.id_last = last;
    params.prompt = &history_tokens;
    params.result = &draft;
}

extern "C" int gemma_speculator_draft(gemma_speculator *speculator, char **error) {
    return guarded(error, [&] {
        common_speculative_draft(speculator->speculative.get());
        return 0;
    });
}

extern "C" size_t gemma_speculator_result(const gemma_speculator *speculator, int32_t seq, const int32_t **tokens) {
    const auto &draft = speculator->drafts[seq];
    *tokens = draft.data();
    return draft.size();
}

extern "C" void gemma_speculator_accept(gemma_speculator *speculator, int32_t seq, uint16_t n_accepted) {
    common_speculative_accept(speculator->speculative.get(), seq, n_accepted);
}

extern "C" void gemma_common_free(char *string) { std::free(string); }

extern "C" void *gemma_reasoning_budget_init(const struct llama_vocab *vocab, const int *start, int n_start,
                                  const int *ends, const int *end_lengths, int n_ends,
                                  const int *forced, int n_forced, int budget, char **error) {
    llama_sampler *sampler = nullptr;
    guarded(error, [&] {
        std::vector<llama_tokens> end_seqs;
        for (int i = 0, offset = 0; i < n_ends; offset += end_lengths[i], i++) {
            end_seqs.emplace_back(ends + offset, ends + offset + end_lengths[i]);
        }
        sampler = common_reasoning_budget_init(vocab, {llama_tokens(start, start + n_start)}, end_seqs,
                                               llama_tokens(forced, forced + n_forced), budget);
        return 0;
    });
    return sampler;
}

extern "C" bool gemma_reasoning_budget_is_thinking(const void *sampler) {
    const auto state = common_reasoning_budget_get_state(static_cast<const llama_sampler *>(sampler));
    return state != REASONING_BUDGET_IDLE && state != REASONING_BUDGET_DONE;
}

extern "C" int gemma_reasoning_budget_end_match(const void *sampler, const int **tokens) {
    const llama_tokens *match = common_reasoning_budget_get_end_match(static_cast<const llama_sampler *>(sampler));
    if (match == nullptr || match->empty()) {
        *tokens = nullptr;
        return 0;
    }
    *tokens = match->data();
    return static_cast<int>(match->size());
}
