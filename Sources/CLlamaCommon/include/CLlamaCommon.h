#ifndef GEMMACTL_CLLAMACOMMON_H
#define GEMMACTL_CLLAMACOMMON_H

// A C face for the parts of llama.cpp's C++ `common` library gemmactl uses. Every function catches
// C++ exceptions and reports them as an error string; strings it returns are malloc'd and freed
// by the caller with gemma_common_free.

#ifdef __cplusplus
extern "C" {
#endif

/// Converts a JSON Schema (JSON text) to a GBNF grammar with root rule `root`.
/// Returns 0 and sets *grammar, or non-zero and sets *error (why the schema is not usable).
int gemma_json_schema_to_grammar(const char *schema_json, char **grammar, char **error);

/// Frees a string returned by this module.
void gemma_common_free(char *string);

#ifdef __cplusplus
}
#endif

#endif
