#include "CLlamaCommon.h"

#include <llama-common/json-schema-to-grammar.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace {

char *copy(const std::string &text) {
    char *out = static_cast<char *>(std::malloc(text.size() + 1));
    if (out != nullptr) { std::memcpy(out, text.c_str(), text.size() + 1); }
    return out;
}

} // namespace

extern "C" int gemma_json_schema_to_grammar(const char *schema_json, char **grammar, char **error) {
    *grammar = nullptr;
    *error = nullptr;
    try {
        common_json schema = common_json::parse(schema_json);
        *grammar = copy(json_schema_to_grammar(schema, true));
        return *grammar == nullptr ? 1 : 0;
    } catch (const std::exception &e) {
        *error = copy(e.what());
    } catch (...) {
        *error = copy("unknown error");
    }
    return 1;
}

extern "C" void gemma_common_free(char *string) { std::free(string); }
