import Foundation
import Hummingbird

/// llama-server's chat-template endpoints: `POST /apply-template` (the prompt a chat renders to),
/// `POST /chat/completions/input_tokens` (how many tokens it takes), `GET /props` (the server's
/// properties, the template among them) and `POST /props` (with `--props` only).
struct ChatTemplateController: Sendable {
    let server: ServerCore

    var endpoints: [Endpoint] {
        [
            Endpoint(.post, "/apply-template") { request, _ in
                let (_, rendered) = try await renderedChat(request)
                return JSONBody.response(object: ["prompt": rendered.text])
            },
            Endpoint(.get, "/props") { _, _ in try props() },
            Endpoint(.post, "/props") { _, _ in
                guard server.configuration.propsEndpoint else {
                    throw APIError.notSupported("This server does not support changing global properties. Start it with `--props`")
                }
                return JSONBody.response(object: ["success": true])
            },
        ] + ["/v1", ""].map { prefix in
            Endpoint(.post, "\(prefix)/chat/completions/input_tokens") { request, _ in
                let (_, rendered) = try await renderedChat(request)
                return JSONBody.response(object: ["input_tokens": rendered.tokens.count, "object": "response.input_tokens"])
            }
        }
    }

    /// A chat completion request's body, decoded and rendered as its completion would be.
    private func renderedChat(_ request: Request) async throws -> (ChatCompletionRequest, RenderedChat) {
        let body = try await JSONBody.decode(ChatCompletionRequest.self, from: request, limit: server.configuration.maxBodySize)
        return (body, try await server.render(chat: body, loaded: try server.requireModel()))
    }

    /// llama-server's /props fields, with gemmactl's values.
    func props() throws -> Response {
        let loaded = try server.requireModel()
        let configuration = server.configuration
        let defaults = SamplingParameters()
        let params: [String: Any] = [
            "seed": UInt32.max, "temperature": defaults.temperature, "top_k": defaults.topK, "top_p": defaults.topP,
            "min_p": defaults.minP, "repeat_last_n": defaults.penaltyLastN, "repeat_penalty": defaults.repeatPenalty,
            "presence_penalty": defaults.presencePenalty, "frequency_penalty": defaults.frequencyPenalty,
            "max_tokens": -1, "n_predict": -1, "ignore_eos": false, "stream": false, "n_probs": 0,
        ]
        var props: [String: Any] = [
            "default_generation_settings": ["params": params, "n_ctx": loaded.engine.slotContextSize],
            "total_slots": configuration.engine.context.sequences,
            "model_alias": server.modelID,
            "model_ftype": loaded.model.fileTypeName,
            "model_path": loaded.model.path,
            "modalities": ["vision": false, "video": false, "audio": false],
            "endpoint_slots": configuration.slotsEndpoint,
            "endpoint_props": configuration.propsEndpoint,
            "endpoint_metrics": true,
            "ui": false,
            "chat_template": loaded.formatter.template,
            "bos_token": loaded.model.bosTokenText,
            "eos_token": loaded.model.eosTokenText,
            "build_info": "gemmactl \(GemmactlVersion.current), llama.cpp \(LlamaBackend.buildCommit)",
            "is_sleeping": false,
        ]
        if let caps = loaded.formatter.capabilitiesJSON, let object = try? JSONSerialization.jsonObject(with: Data(caps.utf8)) {
            props["chat_template_caps"] = object
        }
        return JSONBody.response(object: props)
    }
}

/// A chat request as the model will see it: the tool calling it asked for, the prompt text and its tokens.
struct RenderedChat {
    let tools: ToolCalling?
    let text: String
    let tokens: [Token]
}

extension ServerCore {
    /// Checks a chat request's messages and tools and renders it through the chat template with
    /// its `add_generation_prompt` and `chat_template_kwargs`: what chat completions,
    /// /apply-template and input_tokens share, so all three see the same prompt.
    func render(chat body: ChatCompletionRequest, loaded: ModelHost.Loaded) async throws -> RenderedChat {
        guard !body.messages.isEmpty else { throw APIError.badRequest("'messages' must hold at least one message", param: "messages") }
        for (index, message) in body.messages.enumerated() where !["system", "user", "assistant", "developer", "tool"].contains(message.role) {
            throw APIError.badRequest("'messages[\(index)].role' must be system, developer, user, assistant or tool, got '\(message.role)'",
                                      param: "messages[\(index)].role")
        }
        // add_generation_prompt defaults to true, so continue_final_message alone is refused too, as llama-server.
        if body.template.addGenerationPrompt ?? true, body.template.continueFinalMessage == true {
            throw APIError.badRequest("'add_generation_prompt' and 'continue_final_message' cannot both be true", param: "continue_final_message")
        }
        let tools = try body.toolCalling()
        let messages = try ToolCalling.chatMessages(body.messages, tools: tools)
        let (text, tokens) = try await prompt(chat: messages, addGenerationPrompt: body.template.addGenerationPrompt ?? true,
                                              kwargsJSON: body.template.chatTemplateKwargs.map { JSONValue.object($0).jsonText },
                                              loaded: loaded)
        return RenderedChat(tools: tools, text: text, tokens: tokens)
    }
}

/// llama-server's request fields for the chat template.
struct ChatTemplateFields: Decodable {
    /// End the prompt where the assistant's reply begins (default true).
    var addGenerationPrompt: Bool?
    /// Extra variables for a Jinja template, e.g. {"enable_thinking": false}.
    var chatTemplateKwargs: [String: JSONValue]?
    /// Continue the last (assistant) message instead of starting a new one; read only to refuse
    /// it together with `add_generation_prompt`, as llama-server does.
    var continueFinalMessage: Bool?

    enum CodingKeys: String, CodingKey {
        case addGenerationPrompt = "add_generation_prompt", chatTemplateKwargs = "chat_template_kwargs"
        case continueFinalMessage = "continue_final_message"
    }
}
