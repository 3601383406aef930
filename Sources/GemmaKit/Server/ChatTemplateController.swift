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
                return JSONBody.response(["prompt": rendered.text])
            },
            Endpoint(.get, "/props") { request, _ in try props(model: request.uri.queryParameters["model"].map(String.init)) },
            Endpoint(.post, "/props") { _, _ in
                guard server.configuration.propsEndpoint else {
                    throw APIError.notSupported("This server does not support changing global properties. Start it with `--props`")
                }
                return JSONBody.response(["success": true])
            },
        ] + ["/v1", ""].map { prefix in
            Endpoint(.post, "\(prefix)/chat/completions/input_tokens") { request, _ in
                let (_, rendered) = try await renderedChat(request)
                return JSONBody.response(InputTokens(inputTokens: rendered.tokens.count))
            }
        }
    }

    /// A chat completion request's body, decoded and rendered as its completion would be.
    private func renderedChat(_ request: Request) async throws -> (ChatCompletionRequest, RenderedChat) {
        let body = try await JSONBody.decode(ChatCompletionRequest.self, from: request, limit: server.configuration.maxBodySize)
        return (body, try await server.render(chat: body, loaded: try await server.requireModel(named: body.model)))
    }

    /// llama-server's /props fields, with gemmactl's values. A sleeping model answers what it
    /// answered last, with `is_sleeping: true`, as llama-server (asking never wakes it).
    func props(model: String?) throws -> Response {
        let host = try server.registry.host(named: model)
        if server.registry.isSleeping(host), var props = host.sleepingProps.withLock({ $0 }) {
            props.isSleeping = true
            return JSONBody.response(props)
        }
        return JSONBody.response(Props(try server.loadedModel(named: model), configuration: host.configuration))
    }
}

extension Props {
    /// What `/props` answers for a loaded model with the server's settings.
    init(_ loaded: ModelHost.Loaded, configuration: ServerConfiguration) {
        let defaults = configuration.samplingDefaults.sampling
        let limit = configuration.samplingDefaults.maxTokens(orAPIDefault: nil) ?? -1
        let params = Props.Params(
            seed: defaults.seed ?? UInt32.max, temperature: defaults.temperature, topK: defaults.topK, topP: defaults.topP, minP: defaults.minP,
            repeatLastN: defaults.penaltyLastN, repeatPenalty: defaults.repeatPenalty, presencePenalty: defaults.presencePenalty,
            frequencyPenalty: defaults.frequencyPenalty, maxTokens: limit, nPredict: limit, ignoreEOS: false, stream: false, nProbs: 0,
            reasoningFormat: configuration.reasoningFormat.rawValue, reasoningInContent: false,
            speculativeTypes: configuration.engine.speculation.isOn ? configuration.engine.speculation.types.joined(separator: ",") : "none")
        let caps = loaded.formatter.capabilitiesJSON.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
        self.init(
            defaultGenerationSettings: .init(params: params, nCtx: loaded.engine.slotContextSize),
            totalSlots: configuration.engine.context.sequences, modelAlias: loaded.modelID, modelFtype: loaded.model.fileTypeName,
            modelPath: loaded.model.path, modalities: ["vision": false, "video": false, "audio": false],
            endpointSlots: configuration.slotsEndpoint, endpointProps: configuration.propsEndpoint, endpointMetrics: configuration.metricsEndpoint, ui: false,
            chatTemplate: loaded.formatter.template, bosToken: loaded.model.bosTokenText, eosToken: loaded.model.eosTokenText,
            buildInfo: "gemmactl \(GemmactlVersion.current), llama.cpp \(LlamaBackend.buildCommit)", isSleeping: false,
            chatTemplateCaps: caps, cpuLevel: CPULevel.linked)
    }
}

/// `/chat/completions/input_tokens`'s answer.
struct InputTokens: Encodable {
    let inputTokens: Int
    let object = "response.input_tokens"
}

/// llama-server's `GET /props`.
struct Props: Encodable, Sendable {
    struct Settings: Encodable {
        let params: Params
        let nCtx: Int
    }

    struct Params: Encodable {
        let seed: UInt32, temperature: Double, topK: Int, topP: Double, minP: Double, repeatLastN: Int
        let repeatPenalty: Double, presencePenalty: Double, frequencyPenalty: Double
        let maxTokens: Int, nPredict: Int, ignoreEOS: Bool, stream: Bool, nProbs: Int
        /// `--reasoning-format` (llama-server shows its task default here, `none`, whatever the flag).
        let reasoningFormat: String
        let reasoningInContent: Bool
        /// llama-server's `speculative.types`: the --spec-type list, "none" when off.
        let speculativeTypes: String

        enum CodingKeys: String, CodingKey {
            case seed, temperature, topK, topP, minP, repeatLastN, repeatPenalty, presencePenalty, frequencyPenalty
            case maxTokens, nPredict, ignoreEOS, stream, nProbs, reasoningFormat, reasoningInContent
            case speculativeTypes = "speculative.types"
        }
    }

    let defaultGenerationSettings: Settings
    let totalSlots: Int
    let modelAlias: String
    let modelFtype: String
    let modelPath: String
    let modalities: [String: Bool]
    let endpointSlots: Bool, endpointProps: Bool, endpointMetrics: Bool
    let ui: Bool
    let chatTemplate: String
    let bosToken: String, eosToken: String
    let buildInfo: String
    var isSleeping: Bool
    /// llama.cpp's reading of what the template can do; left out when it has none.
    let chatTemplateCaps: JSONValue?
    /// gemmactl's: the CPU kernels it runs (`CPULevel`), e.g. `avx512`, or `native` for a build made for its machine.
    let cpuLevel: String
}

/// A chat request as the model will see it: the prompt text and its tokens, and either the generic
/// tool calling it asked for (`tools`) or, for a template with a tool or thinking syntax of its
/// own, llama.cpp's rendering of it (`native`), which says how to constrain and parse the reply.
struct RenderedChat {
    let tools: ToolCalling?
    let native: ChatRendering?
    let text: String
    let tokens: [Token]
}

/// What a chat request of any API asks of the chat template: the conversation, the tools it
/// offers and how they may be called, template variables and thinking.
struct ChatInput {
    var conversation: ChatConversation
    /// How tools may be called (nil: none offered, or `tool_choice` none).
    var tools: ToolCalling?
    /// The offered tools as the client sent them.
    var offeredTools: [JSONValue] = []
    /// Each offered tool in the client's own text, when known: templates render a schema's
    /// properties in the order they come, so they get the client's order, as in llama-server.
    var offeredToolTexts: [String]?
    var parallelToolCalls: Bool?
    var addGenerationPrompt = true
    /// `chat_template_kwargs` as a JSON object.
    var kwargsJSON: String?
    /// nil: the server's (`--reasoning-format`).
    var reasoningFormat: ReasoningFormat?
    var reasoningEffort: String?
    /// Whether the reply thinks; nil: whenever the template can (llama-server's default).
    var thinking: Bool?
}

extension ServerCore {
    /// Checks a chat completion request's messages and tools and renders it through the chat
    /// template with its `add_generation_prompt` and `chat_template_kwargs`: what chat
    /// completions, /apply-template and input_tokens share, so all three see the same prompt.
    func render(chat body: ChatCompletionRequest, loaded: ModelHost.Loaded) async throws -> RenderedChat {
        // add_generation_prompt defaults to true, so continue_final_message alone is refused too, as llama-server.
        let addGenerationPrompt = body.template.addGenerationPrompt ?? true
        if addGenerationPrompt, body.template.continueFinalMessage == true {
            throw APIError.badRequest("'add_generation_prompt' and 'continue_final_message' cannot both be true", param: "continue_final_message")
        }
        return try await render(ChatInput(
            conversation: try ChatConversation(body.messages), tools: try body.toolCalling(), offeredTools: body.tools ?? [],
            offeredToolTexts: body.toolTexts, parallelToolCalls: body.parallelToolCalls, addGenerationPrompt: addGenerationPrompt,
            kwargsJSON: body.template.chatTemplateKwargs.map { JSONValue.object($0).jsonText },
            reasoningFormat: body.reasoningFormat, reasoningEffort: body.reasoningEffort), loaded: loaded)
    }

    /// Renders a chat through the chat template. A Jinja template renders through llama.cpp's
    /// chat layer (as llama-server does) when tools are offered and it has a tool-call syntax (its
    /// capabilities say so, or the layer made a grammar for its calls), or when it has a thinking
    /// syntax; otherwise tools are described by gemmactl's generic JSON format (`ToolCalling`).
    func render(_ input: ChatInput, loaded: ModelHost.Loaded) async throws -> RenderedChat {
        let offersTools = !input.offeredTools.isEmpty
        let syntax = loaded.formatter.hasToolCallSyntax
        // A template whose calls the layer may not read can fail there; it then gets the generic format.
        let native = !offersTools || syntax ? try await nativeRendering(input, loaded: loaded) : try? await nativeRendering(input, loaded: loaded)
        if let native, offersTools ? syntax || native.grammar != nil : native.supportsThinking {
            let tokens = await Self.offCooperativePool { loaded.model.tokenize(native.prompt, addSpecial: true, parseSpecial: true) }
            return RenderedChat(tools: nil, native: native, text: native.prompt, tokens: tokens)
        }
        let (text, tokens) = try await prompt(chat: input.conversation, tools: input.tools, addGenerationPrompt: input.addGenerationPrompt,
                                              kwargsJSON: input.kwargsJSON, loaded: loaded)
        return RenderedChat(tools: input.tools, native: nil, text: text, tokens: tokens)
    }

    /// The chat rendered by llama.cpp's chat layer with the request's tools, `tool_choice` (a named
    /// function: that one tool, required, as llama-server does), thinking fields and template
    /// variables; nil when the template is not Jinja.
    private func nativeRendering(_ input: ChatInput, loaded: ModelHost.Loaded) async throws -> ChatRendering? {
        let texts = input.offeredToolTexts ?? input.offeredTools.map(\.jsonText)
        var offered = Array(zip(input.offeredTools, texts))
        var choice = ToolChoiceMode.none
        switch input.tools?.choice {
        case nil: break
        case .auto?: choice = .auto
        case .required?: choice = .required
        case .function(let name)?:
            choice = .required
            offered = offered.filter { $0.0.objectValue?["function"]?.objectValue?["name"] == .string(name) }
        }
        let conversation = input.conversation
        try checkFits(bytes: conversation.messages.reduce(0) { $0 + $1.content.utf8.count }, loaded: loaded)
        let request = ChatRenderRequest(
            messagesJSON: Data(conversation.openAIMessagesJSON.utf8),
            toolsJSON: offered.isEmpty ? nil : Data(("[" + offered.map(\.1).joined(separator: ",") + "]").utf8), toolChoice: choice,
            parallelToolCalls: input.parallelToolCalls, addGenerationPrompt: input.addGenerationPrompt,
            reasoningFormat: input.reasoningFormat ?? configuration.reasoningFormat,
            enableThinking: input.thinking ?? loaded.formatter.supportsThinking,
            templateKwargsJSON: input.kwargsJSON, reasoningEffort: input.reasoningEffort)
        return try await Self.offCooperativePool {
            Result { () throws(EngineError) in try loaded.formatter.rendering(request) }
        }.get()
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
