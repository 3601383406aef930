#ifndef GEMMACTL_CLLAMACOMMON_H
#define GEMMACTL_CLLAMACOMMON_H

// A C face for the parts of llama.cpp's C++ `common` library gemmactl uses. Every function catches
// C++ exceptions and reports them as an error string; strings it returns are malloc'd and freed
// by the caller with gemma_common_free.

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct llama_model;
struct llama_vocab;
struct llama_context;

/// Converts a JSON Schema (JSON text) to a GBNF grammar with root rule `root`.
/// Returns 0 and sets *grammar, or non-zero and sets *error (why the schema is not usable).
int gemma_json_schema_to_grammar(const char *schema_json, char **grammar, char **error);

/// Chat templates parsed by common's Jinja engine (common_chat_templates).
typedef struct gemma_chat_templates gemma_chat_templates;

/// Parses `template_source` (Jinja text), or the model's own template when it is NULL, with the
/// model's BOS/EOS tokens. Returns NULL and sets *error when the template does not parse.
gemma_chat_templates *gemma_chat_templates_init(const struct llama_model *model, const char *template_source, char **error);

/// Frees templates made by gemma_chat_templates_init.
void gemma_chat_templates_free(gemma_chat_templates *templates);

/// Renders `messages_json` (an OpenAI-style JSON array of messages) through the Jinja template.
/// `kwargs_json` is NULL or a JSON object of extra template variables (chat_template_kwargs).
/// Returns 0 and sets *prompt, or non-zero and sets *error (why the template could not render).
int gemma_chat_templates_apply(const gemma_chat_templates *templates, const char *messages_json,
                               bool add_generation_prompt, const char *kwargs_json, char **prompt, char **error);

/// The default template's Jinja source (as llama-server's /props `chat_template`).
char *gemma_chat_templates_source(const gemma_chat_templates *templates);

/// The template's capabilities as a JSON object of booleans (llama-server's `chat_template_caps`).
char *gemma_chat_templates_caps(const gemma_chat_templates *templates);

/// Renders a chat the way llama-server prepares a chat completion: the template renders the tools
/// in its own syntax, and the result says how to constrain and parse the model's reply.
/// `request_json` is a JSON object; every field but `messages` may be left out:
///   messages (array, OpenAI shape, with tool_calls / tool_call_id / reasoning_content),
///   tools (array of OpenAI function tools), tool_choice ("auto" | "none" | "required"),
///   parallel_tool_calls (bool; default: what the template supports), add_generation_prompt (bool, true),
///   reasoning_format ("none" | "auto" | "deepseek" | "deepseek-legacy"; "none"),
///   enable_thinking (bool, true), chat_template_kwargs (object of JSON values; an `enable_thinking`
///   boolean there overrides enable_thinking), reasoning_effort (string: "none" turns thinking off,
///   another value reaches the template), json_schema (object), grammar (string).
/// Returns 0 and sets *result_json to a JSON object:
///   prompt, format (common_chat_format_name), grammar (GBNF, "" for none), grammar_lazy,
///   grammar_triggers ([{type: "token" | "word" | "pattern" | "pattern_full", value}]),
///   preserved_tokens, additional_stops, generation_prompt, supports_thinking, thinking_start_tag,
///   thinking_end_tags, and parser: an object to give gemma_chat_parser_init as it is.
/// Returns non-zero and sets *error when the request or the template fails.
int gemma_chat_templates_render(const gemma_chat_templates *templates, const char *request_json,
                                char **result_json, char **error);

/// A reply parser in the syntax of one rendered chat (common_chat_parse with the parser that
/// rendering returned), which also keeps what a stream has parsed so far.
typedef struct gemma_chat_parser gemma_chat_parser;

/// Makes a parser from a render result's `parser` object (JSON text). What the parser returns
/// (thinking apart or inline, tool calls or plain text) was settled when the chat was rendered: by
/// its reasoning_format and tools. Returns NULL and sets *error when the object is not usable.
gemma_chat_parser *gemma_chat_parser_init(const char *parser_json, char **error);

/// Frees a parser made by gemma_chat_parser_init.
void gemma_chat_parser_free(gemma_chat_parser *parser);

/// Adds `text` to the reply and parses the whole reply so far, `is_partial` while more may follow.
/// Returns 0 and sets *diffs_json to a JSON array of what changed since the previous call, in
/// common_chat_msg_diff's order, each {reasoning_content} or {content} or {tool_call_index, name,
/// id, arguments} (name and id only where they changed: a call's first diff carries its name).
/// Returns 2 (and changes nothing) when the reply, complete (`is_partial` false), does not match the
/// syntax or breaks off inside a tool call (cut at the token limit); *error says which. Returns 1
/// and sets *error otherwise.
int gemma_chat_parser_feed(gemma_chat_parser *parser, const char *text, bool is_partial, char **diffs_json, char **error);

/// The reply as parsed so far, a JSON object: content, reasoning_content, tool_calls ([{name, id, arguments}]).
char *gemma_chat_parser_message(const gemma_chat_parser *parser);

/// A reasoning budget sampler (common_reasoning_budget_init), as llama-server's common sampler
/// makes one: counting starts once `start` (n_start tokens) is sampled or fed; `n_ends` end
/// sequences, concatenated in `ends` with their lengths in `end_lengths`, end a thinking block
/// naturally; once `budget` tokens are spent, `forced` (n_forced tokens) is forced one token at a
/// time. Returns a `struct llama_sampler *` (as void *, freed with llama_sampler_free), or NULL
/// with *error set.
void *gemma_reasoning_budget_init(const struct llama_vocab *vocab, const int *start, int n_start,
                                  const int *ends, const int *end_lengths, int n_ends,
                                  const int *forced, int n_forced, int budget, char **error);

/// Whether a reasoning budget sampler is inside a thinking block (counting, or forcing its end):
/// a lazy tool-call grammar does not apply there, as in llama.cpp's common sampler.
bool gemma_reasoning_budget_is_thinking(const void *sampler);

/// The end sequence that closed the last thinking block (tokens in *tokens, their count returned),
/// 0 when none: a lazy grammar is fed it, as it may hold the grammar's trigger.
int gemma_reasoning_budget_end_match(const void *sampler, const int **tokens);

/// Speculative decoding over a context's parallel sequences (common_speculative with llama-server's
/// --spec-type implementations: the draft-free ones, and draft-simple with a draft model's context).
/// Used on one thread only.
typedef struct gemma_speculator gemma_speculator;

/// Checks `types`, a comma-separated list of llama-server's --spec-type names. Returns 0 and sets
/// *canonical to the list as common names it ("none" when speculation is off), or non-zero and sets
/// *error (the unknown name and the names there are, or a draft type other than draft-simple).
int gemma_speculative_types_check(const char *types, char **canonical, char **error);

/// A draft model for draft-simple: its context (as many sequences as the target's) and the limits
/// of one draft. The caller keeps the draft context's cache of each sequence equal to the target's
/// tokens before asking for a draft (draft-simple decodes the next token at the history's end).
typedef struct {
    struct llama_context *target;
    struct llama_context *draft;
    int32_t n_max;
    int32_t n_min;
} gemma_draft_model;

/// Makes a speculator for `n_seq` sequences drafting with `types` (see gemma_speculative_types_check);
/// `draft_model` is required when `types` holds draft-simple, else NULL.
/// Returns NULL with *error NULL when `types` turns speculation off, NULL with *error set on failure
/// (e.g. the draft model's vocabulary does not match the target's).
gemma_speculator *gemma_speculator_init(const char *types, uint32_t n_seq, const gemma_draft_model *draft_model, char **error);

/// Frees a speculator made by gemma_speculator_init.
void gemma_speculator_free(gemma_speculator *speculator);

/// Tells the speculator sequence `seq` starts a generation after `prompt` (common_speculative_begin).
void gemma_speculator_begin(gemma_speculator *speculator, int32_t seq, const int32_t *prompt, size_t n_prompt);

/// Asks for a draft of at most `n_max` tokens for `seq`, whose cache holds `history` and whose
/// next token, `last`, is not in it yet. Drafts come from the next gemma_speculator_draft.
void gemma_speculator_request(gemma_speculator *speculator, int32_t seq, const int32_t *history, size_t n_history,
                              int32_t last, int32_t n_max);

/// Drafts for every sequence asked for since the last call. Returns 0, or non-zero and sets *error.
int gemma_speculator_draft(gemma_speculator *speculator, char **error);

/// The draft made for `seq` by the last gemma_speculator_draft (empty when none): sets *tokens to
/// storage the speculator owns until the sequence's next request, and returns the count.
size_t gemma_speculator_result(const gemma_speculator *speculator, int32_t seq, const int32_t **tokens);

/// Tells the speculator how many tokens of the last draft of `seq` the target model accepted.
void gemma_speculator_accept(gemma_speculator *speculator, int32_t seq, uint16_t n_accepted);

/// Frees a string returned by this module.
void gemma_common_free(char *string);

#ifdef __cplusplus
}
#endif

#endif
