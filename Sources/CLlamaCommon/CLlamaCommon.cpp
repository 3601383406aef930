#include "CLlamaCommon.h"

#include <llama-common/chat.h>
#include <llama-common/json-schema-to-grammar.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

struct gemma_chat_templates {
    common_chat_templates_ptr templates;
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

extern "C" void gemma_common_free(char *string) { std::free(string); }
