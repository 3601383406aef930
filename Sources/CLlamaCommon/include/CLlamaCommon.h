#ifndef GEMMACTL_CLLAMACOMMON_H
#define GEMMACTL_CLLAMACOMMON_H

// A C face for the parts of llama.cpp's C++ `common` library gemmactl uses. Every function catches
// C++ exceptions and reports them as an error string; strings it returns are malloc'd and freed
// by the caller with gemma_common_free.

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct llama_model;

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

/// Frees a string returned by this module.
void gemma_common_free(char *string);

#ifdef __cplusplus
}
#endif

#endif
