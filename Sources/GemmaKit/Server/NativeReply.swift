import Foundation

/// Reads replies written in a chat template's own syntax back (llama.cpp's chat parser, see
/// `ChatReplyParser`): thinking, content and tool calls, whole or streamed as what each piece
/// added, one parser per choice.
///
/// A reply that does not match the syntax when it ends (cut by `max_tokens` inside a call, say)
/// is its raw text as content with no calls, never half a call; a stream has already sent what
/// the pieces added while they were read as unfinished, and sends no calls at the end either.
final class NativeReplyDecoder: @unchecked Sendable {
    /// A reply split up, and the finish reason it gets: `tool_calls` when it called tools and
    /// ended by itself, else the generation's.
    struct Reply {
        let message: ChatReplyParser.Message
        let finishReason: String
    }

    private let rendering: ChatRendering
    /// One per choice, used only under `lock` (a parser is a C++ object that is not thread-safe).
    private let parsers: [ChatReplyParser]
    private let lock = NSLock()

    /// Parsers for `choices` replies, made now so that one that cannot be made fails the request
    /// before it runs.
    init(_ rendering: ChatRendering, choices: Int) throws(EngineError) {
        self.rendering = rendering
        var parsers: [ChatReplyParser] = []
        for _ in 0..<choices { parsers.append(try rendering.replyParser()) }
        self.parsers = parsers
    }

    /// What `text`, the next piece of choice `choice`'s reply, added.
    func feed(_ text: String, choice: Int) -> [ChatReplyParser.Delta] {
        withParser(choice) { parser in
            (try? parser.feed(text)) ?? [.content(text)]
        }
    }

    /// What the end of choice `choice`'s reply added, the reply, and its finish reason.
    func finish(choice: Int, reason: FinishReason) -> (deltas: [ChatReplyParser.Delta], reply: Reply) {
        withParser(choice) { parser in
            let finished = try? parser.finish()
            let message = parser.message
            let parsed = finished?.outcome == .parsed
            let deltas = finished?.deltas.filter { delta in
                if case .toolCall = delta { return parsed }
                return true
            } ?? []
            return (deltas, Reply(message: message, finishReason: Self.finishReason(message, parsed: parsed, reason: reason)))
        }
    }

    /// A whole reply.
    func reply(_ text: String, reason: FinishReason) -> Reply {
        guard let (message, outcome) = try? ChatReplyParser.parse(text, rendering: rendering) else {
            return Reply(message: .init(content: text, reasoningContent: "", toolCalls: []), finishReason: reason.rawValue)
        }
        return Reply(message: message, finishReason: Self.finishReason(message, parsed: outcome == .parsed, reason: reason))
    }

    private static func finishReason(_ message: ChatReplyParser.Message, parsed: Bool, reason: FinishReason) -> String {
        parsed && reason == .stop && !message.toolCalls.isEmpty ? "tool_calls" : reason.rawValue
    }

    private func withParser<T>(_ choice: Int, _ body: (ChatReplyParser) -> T) -> T {
        lock.withLock { body(parsers[choice]) }
    }
}

extension ChatRendering {
    /// Sets `generation` up for a reply in this chat's syntax, as llama-server sets up a slot: the
    /// grammar and its triggers, the thinking budget (nil: none), the template's stop strings, and
    /// the special tokens the parser must see in the text.
    func prepare(_ generation: inout GenerationRequest, model: LlamaModel, thinkingBudget: Int?) throws(EngineError) {
        generation.sampling = try constrain(generation.sampling, model: model, thinkingBudget: thinkingBudget)
        generation.stop += additionalStops.filter { !generation.stop.contains($0) }
        generation.visibleSpecialTokens.formUnion(visibleSpecialTokens(model: model))
    }
}
