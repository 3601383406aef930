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
        let loaded = try server.requireModel()
        if let previous = body.previousResponseID, !previous.isEmpty {
            throw APIError.badRequest("llama.cpp does not support 'previous_response_id'.", param: "previous_response_id")
        }
        guard let input = body.input else { throw APIError.badRequest("'input' is required", param: "input") }
        var messages = body.instructions.map { [ChatMessage(role: "system", content: $0)] } ?? []
        messages += try input.messages()
        guard !messages.isEmpty else { throw APIError.badRequest("'input' must hold at least one message", param: "input") }
        if let limit = body.maxOutputTokens, limit < 0 {
            throw APIError.badRequest("'max_output_tokens' must be 0 or more, got \(limit)", param: "max_output_tokens")
        }
        let (prompt, tokens) = try await server.prompt(chat: messages, loaded: loaded)
        let generation = GenerationRequest(prompt: tokens, sampling: try body.sampling.sampling(),
                                           maxTokens: body.maxOutputTokens, stop: try body.sampling.stopStrings())
        let codec = ResponsesCodec(identity: ResponseIdentity(prefix: "resp_", model: server.modelID),
                                   messageID: "msg_" + ResponseIdentity.randomID())
        return .generate(GenerationPlan(request: generation, engine: loaded.engine, stream: body.sampling.stream == true,
                                        promptText: prompt, codec: codec))
    }
}

/// A Responses API request; sampling fields (`temperature`, `top_p`, `stream`, …) as for chat.
struct ResponsesRequest: Decodable {
    var model: String?
    var input: ResponsesInput?
    var instructions: String?
    var maxOutputTokens: Int?
    var previousResponseID: String?
    var sampling: SamplingFields

    enum CodingKeys: String, CodingKey {
        case model, input, instructions, maxOutputTokens = "max_output_tokens", previousResponseID = "previous_response_id"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        input = try container.decodeIfPresent(ResponsesInput.self, forKey: .input)
        instructions = try container.decodeIfPresent(String.self, forKey: .instructions)
        maxOutputTokens = try container.decodeIfPresent(Int.self, forKey: .maxOutputTokens)
        previousResponseID = try container.decodeIfPresent(String.self, forKey: .previousResponseID)
        sampling = try SamplingFields(from: decoder)
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

    func messages() throws(APIError) -> [ChatMessage] {
        switch self {
        case .text(let text):
            return [ChatMessage(role: "user", content: text)]
        case .items(let items):
            return try items.enumerated().map { index, item throws(APIError) in try Self.message(item, field: "input[\(index)]") }
        }
    }

    private static func message(_ item: Item, field: String) throws(APIError) -> ChatMessage {
        if let type = item.type, type != "message" {
            throw APIError.badRequest("'\(field).type' '\(type)' is not supported: only message items are", param: "\(field).type")
        }
        guard let role = item.role, ["user", "system", "developer", "assistant"].contains(role) else {
            throw APIError.badRequest("'\(field).role' must be user, system, developer or assistant", param: "\(field).role")
        }
        switch item.content {
        case .string(let text):
            return ChatMessage(role: role, content: text)
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
            return ChatMessage(role: role, content: texts.joined(separator: "\n"))
        default:
            throw APIError.badRequest("'\(field).content' must be a string or an array of text parts", param: "\(field).content")
        }
    }
}

/// `/v1/responses`: a `response` object whole, or llama-server's event sequence streamed
/// (`response.created`, `response.in_progress`, `response.output_item.added`,
/// `response.content_part.added`, `response.output_text.delta`…, `response.output_text.done`,
/// `response.content_part.done`, `response.output_item.done`, `response.completed`), each as an
/// SSE `event:` + `data:` pair. Events also carry OpenAI's `sequence_number`, `output_index` and
/// `content_index`, which llama-server leaves out and OpenAI's clients read when present.
struct ResponsesCodec: GenerationCodec {
    let identity: ResponseIdentity
    let messageID: String
    /// The streamed text so far and the next sequence number: this request's state.
    private let state = StreamState()

    final class StreamState: Sendable {
        let guarded = Mutex((text: "", sequence: 0))
    }

    init(identity: ResponseIdentity, messageID: String) {
        self.identity = identity
        self.messageID = messageID
    }

    var streamFormat: StreamFormat { .serverSentEvents }

    func encode(_ event: GenerationEvent) -> [String] {
        switch event {
        case .started:
            let pending: [String: Any] = ["id": identity.id, "object": "response", "status": "in_progress",
                                          "created_at": identity.created, "model": identity.model, "output": [Any]()]
            return [
                line("response.created", ["response": pending]),
                line("response.in_progress", ["response": pending]),
                line("response.output_item.added", ["output_index": 0, "item": message(text: nil)]),
                line("response.content_part.added", ["item_id": messageID, "output_index": 0, "content_index": 0,
                                                     "part": ["type": "output_text", "text": "", "annotations": [Any]()]]),
            ]
        case .promptProgress:
            return []
        case .text(let text, _, _):
            guard !text.isEmpty else { return [] }
            state.guarded.withLock { $0.text += text }
            return [line("response.output_text.delta", ["item_id": messageID, "output_index": 0, "content_index": 0, "delta": text])]
        case .finished(let stats):
            let text = state.guarded.withLock { $0.text }
            return [
                line("response.output_text.done", ["item_id": messageID, "output_index": 0, "content_index": 0, "text": text]),
                line("response.content_part.done", ["item_id": messageID, "output_index": 0, "content_index": 0, "part": part(text)]),
                line("response.output_item.done", ["output_index": 0, "item": message(text: text)]),
                line("response.completed", ["response": response(text: text, stats: stats)]),
            ]
        }
    }

    func response(_ result: CollectedGeneration) -> Response {
        JSONBody.response(object: response(text: result.text, stats: result.stats))
    }

    private func response(text: String, stats: GenerationStats) -> [String: Any] {
        let now = Int(Date().timeIntervalSince1970)
        return [
            "id": identity.id, "object": "response", "created_at": identity.created, "completed_at": now,
            "status": "completed", "model": identity.model, "output": [message(text: text)],
            "usage": ["input_tokens": stats.promptTokens, "output_tokens": stats.completionTokens,
                      "total_tokens": stats.promptTokens + stats.completionTokens,
                      "input_tokens_details": ["cached_tokens": stats.cachedTokens]],
        ]
    }

    /// The assistant message item: in progress and empty until `text` is known.
    private func message(text: String?) -> [String: Any] {
        ["type": "message", "id": messageID, "role": "assistant", "status": text == nil ? "in_progress" : "completed",
         "content": text.map { [part($0)] } ?? [Any]()]
    }

    private func part(_ text: String) -> [String: Any] {
        ["type": "output_text", "annotations": [Any](), "logprobs": [Any](), "text": text]
    }

    /// One event: `event: <type>` then its JSON, which repeats the type and numbers the event.
    private func line(_ type: String, _ fields: [String: Any]) -> String {
        var object = fields
        object["type"] = type
        object["sequence_number"] = state.guarded.withLock { state in
            defer { state.sequence += 1 }
            return state.sequence
        }
        return "event: \(type)\n" + streamFormat.line(json: JSONBody.string(object: object))
    }
}
