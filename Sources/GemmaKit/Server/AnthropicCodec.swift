import Foundation
import Hummingbird
import Synchronization

/// How a chat reply is read back, whichever way it was asked for: by the template's own parser
/// (`NativeReplyDecoder`), as gemmactl's generic tool-call JSON (`ToolReplyDecoder`), or as plain
/// text. Either way it comes out as thinking, content and tool calls.
enum ChatReplyReader: Sendable {
    case native(NativeReplyDecoder)
    case generic(ToolReplyDecoder, ToolCalling)
    case plain

    /// A whole reply split up; a reply that does not match the syntax is its raw text, with no calls.
    struct Reply {
        var reasoning = ""
        var content = ""
        var calls: [ToolCall] = []
    }

    /// What the next piece of a streamed reply added.
    func feed(_ text: String) -> [ChatReplyParser.Delta] {
        switch self {
        case .native(let decoder): return decoder.feed(text, choice: 0)
        case .generic(let decoder, _):
            let visible = decoder.feed(text)
            return visible.isEmpty ? [] : [.content(visible)]
        case .plain: return text.isEmpty ? [] : [.content(text)]
        }
    }

    /// What the end of a streamed reply added (its calls, when it made any that parse), and whether it called tools.
    func finish(_ reason: FinishReason) -> (deltas: [ChatReplyParser.Delta], calledTools: Bool) {
        switch self {
        case .native(let decoder):
            let end = decoder.finish(choice: 0, reason: reason)
            return (end.deltas, !end.reply.message.toolCalls.isEmpty)
        case .generic(let decoder, _):
            let end = decoder.finish(reason)
            let calls = end.calls.enumerated().map { index, call in
                ChatReplyParser.Delta.toolCall(index: index, id: call.id, name: call.name, arguments: call.arguments.jsonText)
            }
            return ((end.content.isEmpty ? [] : [.content(end.content)]) + calls, !calls.isEmpty)
        case .plain: return ([], false)
        }
    }

    /// A whole reply.
    func reply(_ text: String, reason: FinishReason) -> Reply {
        switch self {
        case .native(let decoder):
            let reply = decoder.reply(text, reason: reason)
            let message = reply.message
            let calls = message.toolCalls.map { call in
                ToolCall(id: call.id, name: call.name,
                         arguments: (try? JSONDecoder().decode(JSONValue.self, from: Data(call.arguments.utf8))) ?? .object([:]))
            }
            return Reply(reasoning: message.reasoningContent, content: message.content, calls: calls)
        case .generic(_, let tools):
            let reply = ToolReply(text: text, finishReason: reason, tools: tools)
            return Reply(content: reply.content, calls: reply.calls)
        case .plain:
            return Reply(content: text)
        }
    }
}

/// `/v1/messages`: a `message` whole, or streamed as Anthropic's events, each an SSE `event:`
/// line and its `data:` — `message_start` and a `ping`, then each content block (`thinking`, `text`,
/// `tool_use`) as `content_block_start`, its deltas (`thinking_delta` and an empty
/// `signature_delta`, `text_delta`, `input_json_delta`) and `content_block_stop`, then
/// `message_delta` (`stop_reason`, `stop_sequence`, output tokens) and `message_stop`.
///
/// As llama-server: the thinking comes first as a `thinking` block with an empty signature, the
/// usage is `input_tokens` (not from the cache), `cache_read_input_tokens` and `output_tokens`,
/// and a stream that fails after its 200 ends with an `error` event. Unlike llama-server, which
/// closes every block at the end, a block is closed before the next one starts, as Anthropic's
/// API does; and a reply that ended on one of the request's `stop_sequences` stops with
/// `stop_sequence` (llama-server says `end_turn`).
struct AnthropicCodec: GenerationCodec {
    let id: String
    let model: String
    let stopSequences: [String]
    let reader: ChatReplyReader
    private let state = StreamBlocks()

    init(id: String, model: String, stopSequences: [String], reader: ChatReplyReader) {
        self.id = id
        self.model = model
        self.stopSequences = stopSequences
        self.reader = reader
    }

    /// The stream's open content block and the next block's index: this request's state.
    private final class StreamBlocks: Sendable {
        struct Fields {
            var open = Open.none
            var next = 0
        }
        let guarded = Mutex(Fields())

        func withLock<T>(_ body: (inout Fields) -> T) -> T { guarded.withLock { body(&$0) } }
    }

    private enum Open: Equatable {
        case none, thinking, text
        case toolUse(call: Int)
    }

    var streamFormat: StreamFormat { .serverSentEvents }

    func encode(_ event: GenerationEvent) -> [String] {
        switch event {
        case .started(_, let promptTokens, let cachedTokens):
            let message = AnthropicMessage(id: id, model: model, content: [], stopReason: nil, stopSequence: nil,
                                           usage: .init(inputTokens: promptTokens - cachedTokens, outputTokens: 0,
                                                        cacheReadInputTokens: cachedTokens))
            return [line("message_start", MessageStart(message: message)), line("ping", Typed(type: "ping"))]
        case .promptProgress:
            return []
        case .text(let text, _, _):
            return blocks(reader.feed(text))
        case .finished(let stats):
            let end = reader.finish(stats.finishReason)
            let (reason, sequence) = stopReason(stats, calledTools: end.calledTools)
            return blocks(end.deltas) + close() + [
                line("message_delta", MessageDelta(delta: .init(stopReason: reason, stopSequence: sequence),
                                                   usage: .init(outputTokens: stats.completionTokens))),
                line("message_stop", Typed(type: "message_stop")),
            ]
        }
    }

    func response(_ result: CollectedGeneration) -> Response { JSONBody.response(message(result)) }

    /// The whole message.
    func message(_ result: CollectedGeneration) -> AnthropicMessage {
        let stats = result.stats
        let reply = reader.reply(result.text, reason: stats.finishReason)
        var content: [ContentBlock] = []
        if !reply.reasoning.isEmpty { content.append(.thinking(reply.reasoning)) }
        if !reply.content.isEmpty { content.append(.text(reply.content)) }
        content += reply.calls.map { .toolUse(id: $0.id, name: $0.name, input: $0.arguments) }
        let (reason, sequence) = stopReason(stats, calledTools: !reply.calls.isEmpty)
        return AnthropicMessage(id: id, model: model, content: content, stopReason: reason, stopSequence: sequence,
                                usage: .init(inputTokens: stats.promptTokens - stats.cachedTokens, outputTokens: stats.completionTokens,
                                             cacheReadInputTokens: stats.cachedTokens))
    }

    func errorLines(_ error: APIError) -> [String] { [line("error", AnthropicErrorBody(error))] }

    /// `max_tokens` for a reply cut short, `tool_use` for one that called tools, `stop_sequence` (naming it) for one that ended on one of the request's stop
    /// sequences, else `end_turn`.
    private func stopReason(_ stats: GenerationStats, calledTools: Bool) -> (String, String?) {
        if stats.finishReason == .length { return ("max_tokens", nil) }
        if calledTools { return ("tool_use", nil) }
        if stats.stopType == .word, stopSequences.contains(stats.stoppingWord) { return ("stop_sequence", stats.stoppingWord) }
        return ("end_turn", nil)
    }

    // MARK: Streamed blocks

    /// The events for what a piece of the reply added: a block is opened when its kind first
    /// appears (closing the one before) and gets the deltas of that kind.
    private func blocks(_ deltas: [ChatReplyParser.Delta]) -> [String] {
        var lines: [String] = []
        for delta in deltas {
            switch delta {
            case .reasoning(let text):
                guard !text.isEmpty else { continue }
                lines += open(.thinking, block: .thinking(""))
                lines.append(blockDelta(.init(type: "thinking_delta", thinking: text)))
            case .content(let text):
                guard !text.isEmpty else { continue }
                lines += open(.text, block: .text(""))
                lines.append(blockDelta(.init(type: "text_delta", text: text)))
            case .toolCall(let call, let callID, let name, let arguments):
                if let name {
                    lines += open(.toolUse(call: call), block: .toolUse(id: callID ?? "", name: name, input: .object([:])))
                }
                if !arguments.isEmpty, state.withLock({ $0.open }) == .toolUse(call: call) {
                    lines.append(blockDelta(.init(type: "input_json_delta", partialJson: arguments)))
                }
            }
        }
        return lines
    }

    /// Opens a block of kind `kind` unless one is open: the open block's end, then its start.
    private func open(_ kind: Open, block: ContentBlock) -> [String] {
        if state.withLock({ $0.open }) == kind { return [] }
        let closing = close()
        let index = state.withLock { state in
            state.open = kind
            defer { state.next += 1 }
            return state.next
        }
        return closing + [line("content_block_start", BlockStart(index: index, contentBlock: block))]
    }

    /// Closes the open block, if any; a thinking block gets its (empty) signature first, as
    /// Anthropic's clients expect one.
    private func close() -> [String] {
        let (open, index) = state.withLock { state in
            defer { state.open = .none }
            return (state.open, state.next - 1)
        }
        guard open != .none else { return [] }
        let signature = open == .thinking ? [line("content_block_delta", BlockDelta(index: index, delta: .init(type: "signature_delta", signature: "")))] : []
        return signature + [line("content_block_stop", BlockStop(index: index))]
    }

    private func blockDelta(_ delta: ContentBlock) -> String {
        line("content_block_delta", BlockDelta(index: state.withLock { $0.next - 1 }, delta: delta))
    }

    /// An SSE event: its name, then its data.
    private func line(_ event: String, _ value: some Encodable) -> String {
        "event: \(event)\n" + streamFormat.line(json: JSONBody.string(value))
    }
}

// MARK: Wire types

/// A `message`, whole or (empty, in `message_start`) streamed.
struct AnthropicMessage: Encodable {
    let id: String
    let type = "message"
    let role = "assistant"
    let model: String
    let content: [ContentBlock]
    @WrittenAsNull var stopReason: String?
    @WrittenAsNull var stopSequence: String?
    let usage: Usage

    struct Usage: Encodable {
        let inputTokens: Int
        let outputTokens: Int
        var cacheReadInputTokens: Int?
    }
}

/// One content block: `text`, `thinking` (with an empty signature: a local model signs nothing) or
/// `tool_use`; streamed, a piece of one (`text_delta`, `thinking_delta`, `signature_delta`, or
/// `input_json_delta` with a call's arguments in `partial_json`).
struct ContentBlock: Encodable {
    let type: String
    var text: String?
    var thinking: String?
    var signature: String?
    var id: String?
    var name: String?
    var input: JSONValue?
    var partialJson: String?

    static func text(_ text: String) -> ContentBlock { ContentBlock(type: "text", text: text) }
    static func thinking(_ text: String) -> ContentBlock { ContentBlock(type: "thinking", thinking: text, signature: "") }
    static func toolUse(id: String, name: String, input: JSONValue) -> ContentBlock {
        ContentBlock(type: "tool_use", id: id, name: name, input: input)
    }
}

/// Anthropic's error body: `{"type": "error", "error": {"type": …, "message": …}}`, the type
/// following from the status.
struct AnthropicErrorBody: Encodable {
    struct Detail: Encodable { let type: String, message: String }
    let type = "error"
    let error: Detail

    init(_ error: APIError) {
        let type = switch error.status.code {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 503, 529: "overloaded_error"
        case 400..<500: "invalid_request_error"
        default: "api_error"
        }
        self.error = Detail(type: type, message: error.message)
    }
}

private struct Typed: Encodable { let type: String }

private struct MessageStart: Encodable {
    let type = "message_start"
    let message: AnthropicMessage
}

private struct BlockStart: Encodable {
    let type = "content_block_start"
    let index: Int
    let contentBlock: ContentBlock
}

private struct BlockDelta: Encodable {
    let type = "content_block_delta"
    let index: Int
    let delta: ContentBlock
}

private struct BlockStop: Encodable {
    let type = "content_block_stop"
    let index: Int
}

private struct MessageDelta: Encodable {
    struct Delta: Encodable {
        let stopReason: String
        @WrittenAsNull var stopSequence: String?
    }
    struct Usage: Encodable { let outputTokens: Int }
    let type = "message_delta"
    let delta: Delta
    let usage: Usage
}
