import Foundation
import Hummingbird
import Synchronization

/// OpenAI's Responses API as the pinned llama-server serves it, `POST /v1/responses` and
/// `/responses`: text in (`input` as a string or message items, `instructions`), text out, whole
/// or streamed as its event sequence. Like llama-server it keeps no responses, so
/// `previous_response_id` is refused.
struct ResponsesController: Sendable {
    let server: ServerCore

    var endpoints: [Endpoint] {
        let pipeline = GenerationPipeline(server: server)
        return ["/v1/responses", "/responses"].map { path in pipeline.endpoint(path) { request, _ in try await prepare(request) } }
    }

    func prepare(_ request: Request) async throws -> PreparedGeneration {
        let body = try await JSONBody.decode(ResponsesRequest.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try await server.requireModel(named: body.model)
        if let previous = body.previousResponseID, !previous.isEmpty {
            throw APIError.badRequest("llama.cpp does not support 'previous_response_id'.", param: "previous_response_id")
        }
        guard let input = body.input else { throw APIError.badRequest("'input' is required", param: "input") }
        let instructions = body.instructions.map { [ChatConversation.Message(role: .system, content: $0)] } ?? []
        let conversation = try ChatConversation(instructions + input.messages(), field: "input")
        if let limit = body.maxOutputTokens, limit < 0 {
            throw APIError.badRequest("'max_output_tokens' must be 0 or more, got \(limit)", param: "max_output_tokens")
        }
        let rendered = try await server.render(ChatInput(conversation: conversation, reasoningEffort: body.reasoning?.effort), loaded: loaded)
        var generation = GenerationRequest(prompt: rendered.tokens, sampling: try body.sampling.sampling(defaults: server.sampling),
                                           maxTokens: server.maxTokens(body.maxOutputTokens), stop: try body.sampling.stopStrings())
        // llama-server turns a Responses request into a chat request, so its fields work here too.
        try body.llama.apply(to: &generation, model: loaded.model, slotCount: loaded.engine.slotCount)
        try rendered.native?.prepare(&generation, model: loaded.model, thinkingBudget: server.configuration.reasoningBudget)
        let codec = ResponsesCodec(identity: ResponseIdentity(prefix: "resp_", model: loaded.modelID),
                                   messageID: "msg_" + ResponseIdentity.randomID(), reportsProgress: generation.reportsProgress,
                                   nativeReplies: try rendered.native.map { try NativeReplyDecoder($0, choices: 1) })
        return .generate(GenerationPlan(request: generation, on: loaded, stream: body.sampling.stream == true,
                                        promptText: rendered.text, codec: codec))
    }
}

/// A Responses API request; sampling fields (`temperature`, `top_p`, `stream`, …) as for chat.
struct ResponsesRequest: Decodable {
    var model: String?, input: ResponsesInput?, instructions: String?
    var maxOutputTokens: Int?, previousResponseID: String?
    /// `reasoning.effort`: the template's `reasoning_effort` (`none` turns thinking off), as llama-server reads it.
    var reasoning: Reasoning?

    struct Reasoning: Decodable {
        var effort: String?
    }
    var sampling: SamplingFields
    var llama: LlamaRequestFields

    enum CodingKeys: String, CodingKey {
        case model, input, instructions, maxOutputTokens = "max_output_tokens", previousResponseID = "previous_response_id", reasoning
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        input = try container.decodeIfPresent(ResponsesInput.self, forKey: .input)
        instructions = try container.decodeIfPresent(String.self, forKey: .instructions)
        maxOutputTokens = try container.decodeIfPresent(Int.self, forKey: .maxOutputTokens)
        previousResponseID = try container.decodeIfPresent(String.self, forKey: .previousResponseID)
        reasoning = try container.decodeIfPresent(Reasoning.self, forKey: .reasoning)
        sampling = try SamplingFields(from: decoder)
        llama = try LlamaRequestFields(from: decoder)
    }
}

/// `input`: a user message as a string, or a list of message items whose `content` is a string
/// or a list of `input_text` / `output_text` parts.
enum ResponsesInput: Decodable {
    case text(String)
    case items([Item])

    struct Item: Decodable {
        var type: String?
        var role: String?
        var content: JSONValue?
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .items(try container.decode([Item].self))
        }
    }

    func messages() throws(APIError) -> [ChatConversation.Message] {
        switch self {
        case .text(let text):
            return [.init(role: .user, content: text)]
        case .items(let items):
            return try items.enumerated().map { index, item throws(APIError) in try Self.message(item, field: "input[\(index)]") }
        }
    }

    private static func message(_ item: Item, field: String) throws(APIError) -> ChatConversation.Message {
        if let type = item.type, type != "message" {
            throw APIError.badRequest("'\(field).type' '\(type)' is not supported: only message items are", param: "\(field).type")
        }
        let role = try ChatConversation.role(item.role, field: "\(field).role", allowed: [.system, .developer, .user, .assistant])
        switch item.content {
        case .string(let text):
            return .init(role: role, content: text)
        case .array(let parts):
            var texts: [String] = []
            for (index, part) in parts.enumerated() {
                let partField = "\(field).content[\(index)]"
                guard let object = part.objectValue, case .string(let type)? = object["type"] else {
                    throw APIError.badRequest("'\(partField)' must be an object with a 'type'", param: partField)
                }
                guard type == "input_text" || type == "output_text" else {
                    throw APIError.badRequest("'\(partField).type' '\(type)' is not supported: only 'input_text' and 'output_text' are",
                                              param: "\(partField).type")
                }
                guard case .string(let text)? = object["text"] else {
                    throw APIError.badRequest("'\(partField).text' is required and must be a string", param: "\(partField).text")
                }
                texts.append(text)
            }
            return .init(role: role, content: texts.joined(separator: "\n"))
        default:
            throw APIError.badRequest("'\(field).content' must be a string or an array of text parts", param: "\(field).content")
        }
    }
}

/// `/v1/responses`: a `response` object whole, or llama-server's event sequence streamed
/// (`response.created`, `response.in_progress`, `response.output_item.added`,
/// `response.content_part.added`, `response.output_text.delta`…, `response.output_text.done`,
/// `response.content_part.done`, `response.output_item.done`, `response.completed`), each as an
/// SSE `event:` + `data:` pair. With `return_progress`, as llama-server: `response.created` waits
/// for the first progress report, and each report is a `response.in_progress` carrying
/// `prompt_progress`; the message item is added with its first text. Events also carry OpenAI's `sequence_number`, `output_index` and
/// `content_index`, which llama-server leaves out and OpenAI's clients read when present.
///
/// A reply's thinking (a template with a thinking syntax) is a `reasoning` output item before the
/// message, as llama-server's: streamed, `response.output_item.added` with its first text, then
/// `response.reasoning_text.delta`s, and `response.output_item.done` with the whole of it at the end.
struct ResponsesCodec: GenerationCodec {
    let identity: ResponseIdentity
    let messageID: String
    let reportsProgress: Bool
    /// For a template with its own thinking syntax: reads the reply with its parser.
    var nativeReplies: NativeReplyDecoder?
    let reasoningID = "rs_" + ResponseIdentity.randomID()
    /// The streamed text so far, the next sequence number, and which opening events went out:
    /// this request's state.
    private let state = StreamState()

    final class StreamState: Sendable {
        struct Fields {
            var text = ""
            var reasoning = ""
            var sequence = 0
            var created = false
            var itemAdded = false
            var reasoningAdded = false
        }
        let guarded = Mutex(Fields())

        /// Sets `flag`; whether it was set already.
        func setOnce(_ flag: WritableKeyPath<Fields, Bool>) -> Bool {
            guarded.withLock { fields in
                defer { fields[keyPath: flag] = true }
                return fields[keyPath: flag]
            }
        }
    }

    init(identity: ResponseIdentity, messageID: String, reportsProgress: Bool = false, nativeReplies: NativeReplyDecoder? = nil) {
        self.identity = identity
        self.messageID = messageID
        self.reportsProgress = reportsProgress
        self.nativeReplies = nativeReplies
    }

    var streamFormat: StreamFormat { .serverSentEvents }

    func encode(_ event: GenerationEvent) -> [String] {
        let pending = ResponseObject(identity: identity, status: "in_progress", output: [])
        /// `response.created`, once, then `response.in_progress` (with the prompt's progress when reported).
        func opening(progress: PromptProgress? = nil) -> [String] {
            let created = state.setOnce(\.created) ? [] : [line("response.created", ["response": pending])]
            guard !created.isEmpty || progress != nil else { return [] }
            return created + [line("response.in_progress", InProgressEvent(response: pending, promptProgress: progress.map(PromptProgressJSON.init)))]
        }
        switch event {
        case .started:
            return reportsProgress ? [] : opening()
        case .promptProgress(let progress):
            return reportsProgress ? opening(progress: progress) : []
        case .text(let text, _, _):
            guard !text.isEmpty else { return [] }
            let deltas = nativeReplies?.feed(text, choice: 0) ?? [.content(text)]
            return opening() + deltas.flatMap(streamed)
        case .finished(let stats):
            let ending = nativeReplies?.finish(choice: 0, reason: stats.finishReason).deltas.flatMap(streamed) ?? []
            let (text, reasoning) = state.guarded.withLock { ($0.text, $0.reasoning) }
            let part = (itemID: messageID, outputIndex: reasoning.isEmpty ? 0 : 1, contentIndex: 0)
            let reasoningDone = reasoning.isEmpty ? [] : [line("response.output_item.done", OutputItemEvent(outputIndex: 0, item: .reasoning(self.reasoning(reasoning))))]
            return opening() + ending + reasoningDone + messageAdded(at: part.outputIndex) + [
                line("response.output_text.done", ContentEvent(part, text: text)),
                line("response.content_part.done", ContentEvent(part, part: .init(text: text))),
                line("response.output_item.done", OutputItemEvent(outputIndex: part.outputIndex, item: .message(message(text: text)))),
                line("response.completed", ["response": response(text: text, reasoning: reasoning, stats: stats)]),
            ]
        }
    }

    /// The events for what a piece of the reply added: thinking, or the message's text.
    private func streamed(_ delta: ChatReplyParser.Delta) -> [String] {
        switch delta {
        case .reasoning(let text) where !text.isEmpty:
            state.guarded.withLock { $0.reasoning += text }
            let added = state.setOnce(\.reasoningAdded) ? []
                : [line("response.output_item.added", OutputItemEvent(outputIndex: 0, item: .reasoning(ReasoningItem(id: reasoningID, text: nil))))]
            return added + [line("response.reasoning_text.delta", ReasoningDeltaEvent(itemID: reasoningID, delta: text))]
        case .content(let text) where !text.isEmpty:
            let index = state.guarded.withLock { fields in
                fields.text += text
                return fields.reasoning.isEmpty ? 0 : 1
            }
            return messageAdded(at: index) + [line("response.output_text.delta", ContentEvent((messageID, index, 0), delta: text))]
        default:
            return []
        }
    }

    /// The message item and its text part, once, before the first text.
    private func messageAdded(at index: Int) -> [String] {
        guard !state.setOnce(\.itemAdded) else { return [] }
        return [
            line("response.output_item.added", OutputItemEvent(outputIndex: index, item: .message(message(text: nil)))),
            line("response.content_part.added", ContentEvent((messageID, index, 0), part: .init(text: "", logprobs: nil))),
        ]
    }

    func response(_ result: CollectedGeneration) -> Response {
        guard let nativeReplies else { return JSONBody.response(response(text: result.text, reasoning: "", stats: result.stats)) }
        let message = nativeReplies.reply(result.text, reason: result.stats.finishReason).message
        return JSONBody.response(response(text: message.content, reasoning: message.reasoningContent, stats: result.stats))
    }

    private func response(text: String, reasoning: String, stats: GenerationStats) -> ResponseObject {
        let thought: [ResponseObject.Item] = reasoning.isEmpty ? [] : [.reasoning(self.reasoning(reasoning))]
        var object = ResponseObject(identity: identity, status: "completed", output: thought + [.message(message(text: text))])
        object.completedAt = Int(Date().timeIntervalSince1970)
        object.usage = .init(inputTokens: stats.promptTokens, outputTokens: stats.completionTokens,
                             totalTokens: stats.promptTokens + stats.completionTokens,
                             inputTokensDetails: .init(cachedTokens: stats.cachedTokens))
        return object
    }

    /// The assistant message item: in progress and empty until `text` is known.
    private func message(text: String?) -> ResponseObject.Message {
        ResponseObject.Message(id: messageID, status: text == nil ? "in_progress" : "completed",
                               content: text.map { [ResponseObject.Part(text: $0)] } ?? [])
    }

    private func reasoning(_ text: String) -> ReasoningItem { ReasoningItem(id: reasoningID, text: text) }

    /// One event: `event: <type>` then its JSON, which repeats the type and numbers the event.
    private func line(_ type: String, _ fields: some Encodable) -> String {
        let sequence = state.guarded.withLock { state in
            defer { state.sequence += 1 }
            return state.sequence
        }
        return "event: \(type)\n" + streamFormat.line(json: JSONBody.string(ResponseEvent(type: type, sequenceNumber: sequence, fields: fields)))
    }
}

// MARK: Wire types

/// A `response` object: in progress (no `completed_at`, no `usage`) or completed.
struct ResponseObject: Encodable {
    let id: String
    let object = "response"
    let status: String
    let createdAt: Int
    var completedAt: Int?
    let model: String
    let output: [Item]
    var usage: Usage?

    init(identity: ResponseIdentity, status: String, output: [Item]) {
        id = identity.id
        self.status = status
        createdAt = identity.created
        model = identity.model
        self.output = output
    }

    /// An output item: the reply's thinking or its message.
    enum Item: Encodable {
        case reasoning(ReasoningItem)
        case message(Message)

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .reasoning(let item): try item.encode(to: encoder)
            case .message(let item): try item.encode(to: encoder)
            }
        }
    }

    struct Message: Encodable {
        let type = "message"
        let id: String
        let role = "assistant"
        let status: String
        let content: [Part]
    }

    /// An `output_text` part; `logprobs` is left out of the empty part `content_part.added` announces.
    struct Part: Encodable {
        let type = "output_text"
        let annotations: [JSONValue] = []
        var logprobs: [JSONValue]? = []
        let text: String

        init(text: String, logprobs: [JSONValue]? = []) {
            self.text = text
            self.logprobs = logprobs
        }
    }

    struct Usage: Encodable {
        let inputTokens: Int, outputTokens: Int, totalTokens: Int
        let inputTokensDetails: Details
        struct Details: Encodable {
            let cachedTokens: Int
        }
    }
}

/// A streamed event's JSON: its own members, plus `type` and `sequence_number`.
struct ResponseEvent<Fields: Encodable>: Encodable {
    let type: String
    let sequenceNumber: Int
    let fields: Fields

    enum CodingKeys: CodingKey { case type, sequenceNumber }

    func encode(to encoder: any Encoder) throws {
        try fields.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(sequenceNumber, forKey: .sequenceNumber)
    }
}

/// `response.in_progress`: the pending response, and with `return_progress` the prompt's progress.
struct InProgressEvent: Encodable {
    let response: ResponseObject
    let promptProgress: PromptProgressJSON?
}

struct OutputItemEvent: Encodable {
    let outputIndex: Int
    let item: ResponseObject.Item
}

/// A `reasoning` output item, as llama-server writes it: in progress and empty until `text` is known.
struct ReasoningItem: Encodable {
    let id: String
    let type = "reasoning"
    let summary: [JSONValue] = []
    let content: [Text]
    let encryptedContent = ""
    let status: String

    struct Text: Encodable {
        let type = "reasoning_text"
        let text: String
    }

    init(id: String, text: String?) {
        self.id = id
        content = text.map { [Text(text: $0)] } ?? []
        status = text == nil ? "in_progress" : "completed"
    }
}

/// `response.reasoning_text.delta`.
struct ReasoningDeltaEvent: Encodable {
    let itemID: String
    let outputIndex = 0
    let contentIndex = 0
    let delta: String
}

/// An event about the message's text part: the part itself, a delta, or the whole text.
struct ContentEvent: Encodable {
    let itemID: String, outputIndex: Int, contentIndex: Int
    var part: ResponseObject.Part?
    var delta: String?
    var text: String?

    init(_ position: (itemID: String, outputIndex: Int, contentIndex: Int), part: ResponseObject.Part? = nil,
         delta: String? = nil, text: String? = nil) {
        (itemID, outputIndex, contentIndex) = position
        self.part = part
        self.delta = delta
        self.text = text
    }
}
