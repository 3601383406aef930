import CLlamaCommon
import Foundation

/// How a reply's thinking is returned: llama-server's `--reasoning-format` values.
public enum ReasoningFormat: String, Sendable, CaseIterable, Codable {
    /// Thinking stays in the content, as the model wrote it.
    case none
    /// Thinking is returned apart from the content (as `deepseek`), the default of llama-server.
    case auto
    /// Thinking is returned apart from the content, streamed too.
    case deepseek
    /// llama-server's legacy name: inline when streamed, its help says, but the pinned
    /// llama.cpp's parsers return the thinking apart as `deepseek` does.
    case deepseekLegacy = "deepseek-legacy"

    /// A flag's or variable's text: one of the names.
    public static func parse(_ text: String) throws(InputError) -> ReasoningFormat {
        if let format = ReasoningFormat(rawValue: text) { return format }
        throw InputError("must be one of \(allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
    }
}

/// Whether the model may, must or must not call a tool (OpenAI's `tool_choice` strings).
public enum ToolChoiceMode: String, Sendable, CaseIterable, Codable {
    case auto, none, required
}

/// A chat to render through llama.cpp's chat layer (common_chat_templates_apply), with what
/// llama-server reads from a chat completion request besides sampling.
public struct ChatRenderRequest: Sendable {
    /// The messages as an OpenAI-shaped JSON array (roles, content as text or parts, an assistant's
    /// `tool_calls` and `reasoning_content`, a tool message's `tool_call_id`).
    public var messagesJSON: Data
    /// The offered tools as an OpenAI-shaped JSON array of `{"type": "function", "function": …}`;
    /// nil or empty for none.
    public var toolsJSON: Data?
    public var toolChoice: ToolChoiceMode
    /// nil: what the template supports.
    public var parallelToolCalls: Bool?
    public var addGenerationPrompt: Bool
    public var reasoningFormat: ReasoningFormat
    /// Whether a template that can think is asked to (its `enable_thinking`); an `enable_thinking`
    /// boolean in `templateKwargsJSON` overrides it.
    public var enableThinking: Bool
    /// A JSON object of extra template variables (llama-server's `chat_template_kwargs`).
    public var templateKwargsJSON: String?
    /// OpenAI's `reasoning_effort`: `none` turns thinking off, other values reach the template.
    public var reasoningEffort: String?

    public init(messagesJSON: Data, toolsJSON: Data? = nil, toolChoice: ToolChoiceMode = .auto,
                parallelToolCalls: Bool? = nil, addGenerationPrompt: Bool = true,
                reasoningFormat: ReasoningFormat = .none, enableThinking: Bool = true,
                templateKwargsJSON: String? = nil, reasoningEffort: String? = nil) {
        self.messagesJSON = messagesJSON
        self.toolsJSON = toolsJSON
        self.toolChoice = toolChoice
        self.parallelToolCalls = parallelToolCalls
        self.addGenerationPrompt = addGenerationPrompt
        self.reasoningFormat = reasoningFormat
        self.enableThinking = enableThinking
        self.templateKwargsJSON = templateKwargsJSON
        self.reasoningEffort = reasoningEffort
    }
}

/// A word, pattern or token that switches a lazy grammar on (common_grammar_trigger).
public struct GrammarTrigger: Sendable, Equatable, Decodable {
    public enum Kind: String, Sendable, Decodable {
        /// `value` is a token's text; it triggers when that one token is sampled.
        case token
        /// `value` is literal text.
        case word
        /// `value` is a regular expression matched anywhere in the output.
        case pattern
        /// `value` is a regular expression the whole output must match.
        case patternFull = "pattern_full"
    }

    public var kind: Kind
    public var value: String

    enum CodingKeys: String, CodingKey {
        case kind = "type", value
    }
}

/// A chat rendered by llama.cpp's chat layer: the prompt, and how llama-server would constrain
/// and parse the model's reply in the template's own tool and thinking syntax.
public struct ChatRendering: Sendable, Decodable {
    /// The prompt text, special tokens written out (tokenize it with special tokens parsed).
    public let prompt: String
    /// The syntax llama.cpp recognised (common_chat_format_name: `Content-only`, `peg-native`, `peg-gemma4`, …).
    public let format: String
    /// A GBNF grammar for the reply (tool calls, a JSON schema), nil for none.
    public let grammar: String?
    /// The grammar applies only once one of `grammarTriggers` appears.
    public let grammarIsLazy: Bool
    public let grammarTriggers: [GrammarTrigger]
    /// Special tokens the reply must keep as text (so that the parser sees them), e.g. `<|tool_call>`.
    public let preservedTokens: [String]
    /// Stop strings the template adds.
    public let additionalStops: [String]
    /// The end of the prompt that the reply continues (e.g. an opened thinking block).
    public let generationPrompt: String
    /// Whether the template has a thinking syntax.
    public let supportsThinking: Bool
    public let thinkingStartTag: String?
    public let thinkingEndTags: [String]
    /// What a reply parser is made from (opaque; JSON for the C face).
    let parserSpec: String

    enum CodingKeys: String, CodingKey {
        case prompt, format, grammar, grammarLazy = "grammar_lazy", grammarTriggers = "grammar_triggers"
        case preservedTokens = "preserved_tokens", additionalStops = "additional_stops"
        case generationPrompt = "generation_prompt", supportsThinking = "supports_thinking"
        case thinkingStartTag = "thinking_start_tag", thinkingEndTags = "thinking_end_tags", parser
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try container.decode(String.self, forKey: .prompt)
        format = try container.decode(String.self, forKey: .format)
        let grammar = try container.decode(String.self, forKey: .grammar)
        self.grammar = grammar.isEmpty ? nil : grammar
        grammarIsLazy = try container.decode(Bool.self, forKey: .grammarLazy)
        grammarTriggers = try container.decode([GrammarTrigger].self, forKey: .grammarTriggers)
        preservedTokens = try container.decode([String].self, forKey: .preservedTokens)
        additionalStops = try container.decode([String].self, forKey: .additionalStops)
        generationPrompt = try container.decode(String.self, forKey: .generationPrompt)
        supportsThinking = try container.decode(Bool.self, forKey: .supportsThinking)
        let start = try container.decode(String.self, forKey: .thinkingStartTag)
        thinkingStartTag = start.isEmpty ? nil : start
        thinkingEndTags = try container.decode([String].self, forKey: .thinkingEndTags)
        let parser = try container.decode(ParserSpec.self, forKey: .parser)
        parserSpec = String(decoding: try JSONEncoder().encode(parser), as: UTF8.self)
    }

    /// The render result's `parser` object, carried through unchanged.
    private struct ParserSpec: Codable {
        var format: Int
        var generation_prompt: String
        var parser: String
    }

    /// `sampling` with this chat's grammar and thinking budget, as llama-server sets up a slot for
    /// it. The grammar is lazy with its triggers (a trigger word that is one token becomes a token
    /// trigger, and must be one of the preserved tokens), or applies from the first token with the
    /// generation prompt fed to it first. `thinkingBudget` (nil: no limit) caps a thinking block in
    /// tokens; the budget sampler also runs without a limit when the grammar is lazy, so that it
    /// waits while the reply thinks.
    public func constrain(_ sampling: SamplingParameters, model: LlamaModel, thinkingBudget: Int? = nil) throws(EngineError) -> SamplingParameters {
        var result = sampling
        var prefill = model.tokenize(generationPrompt, addSpecial: false, parseSpecial: true)
        // Some tokenizers put a space before the first special token; it is not the prompt's.
        if let first = prefill.first, let byte = model.pieceBytes(first, special: true).first,
           Character(UnicodeScalar(byte)).isWhitespace, generationPrompt.first?.isWhitespace != true {
            prefill.removeFirst()
        }
        if let grammar {
            result.grammar = grammar
            if grammarIsLazy {
                result.grammarTriggers = try triggers(model: model)
            } else {
                result.grammarPrefill = prefill
            }
        }
        if let start = thinkingStartTag, let firstEnd = thinkingEndTags.first, thinkingBudget != nil || (grammar != nil && grammarIsLazy) {
            let tokenize = { (text: String) in model.tokenize(text, addSpecial: false, parseSpecial: true) }
            result.reasoningBudget = SamplingParameters.ReasoningBudget(
                tokens: thinkingBudget, start: tokenize(start), ends: thinkingEndTags.map(tokenize), forced: tokenize(firstEnd), prefill: prefill)
        }
        return result
    }

    private func triggers(model: LlamaModel) throws(EngineError) -> SamplingParameters.GrammarTriggers {
        var triggers = SamplingParameters.GrammarTriggers()
        let preserved = Set(visibleSpecialTokens(model: model))
        for trigger in grammarTriggers {
            switch trigger.kind {
            case .token, .word:
                let tokens = model.tokenize(trigger.value, addSpecial: false, parseSpecial: true)
                if tokens.count == 1 {
                    guard preserved.contains(tokens[0]) else {
                        throw EngineError(.grammarFailed, "the chat template's grammar trigger \(trigger.value) is a token the reply would not show")
                    }
                    triggers.tokens.append(tokens[0])
                } else {
                    triggers.patterns.append(Self.regexEscaped(trigger.value))
                }
            case .pattern:
                triggers.patterns.append(trigger.value)
            case .patternFull:
                let value = trigger.value
                triggers.patterns.append(value.isEmpty ? "^$" : (value.hasPrefix("^") ? "" : "^") + value + (value.hasSuffix("$") ? "" : "$"))
            }
        }
        return triggers
    }

    /// The preserved tokens that are single tokens of `model`: written into the reply's text
    /// (GenerationRequest.visibleSpecialTokens) so that the parser sees them.
    public func visibleSpecialTokens(model: LlamaModel) -> [Token] {
        preservedTokens.compactMap { text in
            let tokens = model.tokenize(text, addSpecial: false, parseSpecial: true)
            return tokens.count == 1 ? tokens[0] : nil
        }
    }

    /// `text` as a regular expression matching it literally (llama.cpp's regex_escape).
    static func regexEscaped(_ text: String) -> String {
        var result = ""
        for character in text {
            if ".^$|()*+?[]{}\\".contains(character) { result.append("\\") }
            result.append(character)
        }
        return result
    }

    /// A parser for one reply to this chat: what it returns (thinking apart or inline, tool calls)
    /// follows from the request the chat was rendered for. Tool calls the model gives no id get
    /// one from `toolCallID`.
    public func replyParser(toolCallID: @escaping @Sendable () -> String = ChatReplyParser.randomToolCallID) throws(EngineError) -> ChatReplyParser {
        try ChatReplyParser(spec: parserSpec, toolCallID: toolCallID)
    }
}

/// A model's reply in its template's syntax, split by llama.cpp's chat parser (common_chat_parse)
/// into thinking, content and tool calls; fed as the reply streams, it says what each piece added
/// (common_chat_msg_diff), as llama-server streams a chat completion.
///
/// One per reply; not for use from several threads at once.
public final class ChatReplyParser {
    /// A tool call the model made; `arguments` is JSON text (a fragment while it streams).
    public struct ToolCall: Sendable, Equatable {
        public var id: String
        public var name: String
        public var arguments: String
    }

    /// The reply split up.
    public struct Message: Sendable, Equatable {
        public var content: String
        /// The thinking, "" when there was none or it stays in the content.
        public var reasoningContent: String
        public var toolCalls: [ToolCall]
    }

    /// What a piece of the reply added.
    public enum Delta: Sendable, Equatable {
        case reasoning(String)
        case content(String)
        /// A tool call's first delta carries its id and name; later ones only argument text.
        case toolCall(index: Int, id: String?, name: String?, arguments: String)
    }

    /// How a finished reply was parsed.
    public enum Outcome: Sendable, Equatable {
        /// It matched the syntax.
        case parsed
        /// It did not (e.g. cut off inside a tool call): the message is the raw reply as content,
        /// with no tool calls and no thinking. `reason` is llama.cpp's, for logs.
        case unparsed(reason: String)
    }

    private let handle: OpaquePointer
    private let toolCallID: @Sendable () -> String
    /// Ids given to tool calls by index, as llama-server keeps them stable across a stream.
    private var ids: [String] = []
    private var rawReply = ""
    private var rawFallback: Message?

    init(spec: String, toolCallID: @escaping @Sendable () -> String) throws(EngineError) {
        var error: UnsafeMutablePointer<CChar>?
        defer { gemma_common_free(error) }
        guard let handle = gemma_chat_parser_init(spec, &error) else {
            throw EngineError(.replyParseFailed, "llama.cpp's chat parser could not be made: \(error.map { String(cString: $0) } ?? "no reason")")
        }
        self.handle = handle
        self.toolCallID = toolCallID
    }

    deinit { gemma_chat_parser_free(handle) }

    /// The reply as parsed so far.
    public var message: Message {
        if let rawFallback { return rawFallback }
        let text = gemma_chat_parser_message(handle)
        defer { gemma_common_free(text) }
        guard let text, let wire = try? JSONDecoder().decode(WireMessage.self, from: Data(String(cString: text).utf8)) else {
            return Message(content: "", reasoningContent: "", toolCalls: [])
        }
        return Message(content: wire.content, reasoningContent: wire.reasoning_content,
                       toolCalls: wire.tool_calls.enumerated().map { index, call in
                           ToolCall(id: index < ids.count ? ids[index] : call.id, name: call.name, arguments: call.arguments)
                       })
    }

    /// Adds `text`, more to follow; what it added to the reply.
    public func feed(_ text: String) throws(EngineError) -> [Delta] {
        rawReply += text
        switch try run(text, partial: true) {
        case .success(let deltas): return deltas
        case .failure: return []  // Not returned for partial input.
        }
    }

    /// Adds the reply's last `text` and parses it as complete. When it does not match the syntax,
    /// the deltas are what parsing it as unfinished adds (a stream cannot take back what it sent)
    /// and `message` becomes the raw reply.
    public func finish(_ text: String = "") throws(EngineError) -> (deltas: [Delta], outcome: Outcome) {
        rawReply += text
        switch try run(text, partial: false) {
        case .success(let deltas): return (deltas, .parsed)
        case .failure(let mismatch):
            // Parsing as unfinished never reports a mismatch.
            guard case .success(let deltas) = try run(text, partial: true) else { return ([], .unparsed(reason: mismatch.reason)) }
            rawFallback = Message(content: rawReply, reasoningContent: "", toolCalls: [])
            return (deltas, .unparsed(reason: mismatch.reason))
        }
    }

    /// Parses a whole reply at once.
    public static func parse(_ reply: String, rendering: ChatRendering) throws(EngineError) -> (message: Message, outcome: Outcome) {
        let parser = try rendering.replyParser()
        let outcome = try parser.finish(reply).outcome
        return (parser.message, outcome)
    }

    /// A 32-character random id, as llama-server gives tool calls the model did not name.
    public static let randomToolCallID: @Sendable () -> String = {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        return String((0..<32).map { _ in alphabet.randomElement()! })
    }

    private struct Mismatch: Error { let reason: String }

    private func run(_ text: String, partial: Bool) throws(EngineError) -> Result<[Delta], Mismatch> {
        var diffs: UnsafeMutablePointer<CChar>?
        var error: UnsafeMutablePointer<CChar>?
        defer {
            gemma_common_free(diffs)
            gemma_common_free(error)
        }
        let status = gemma_chat_parser_feed(handle, text, partial, &diffs, &error)
        let reason = error.map { String(cString: $0) } ?? "no reason"
        if status == 2 { return .failure(Mismatch(reason: reason)) }
        guard status == 0, let diffs,
              let wire = try? JSONDecoder().decode([WireDiff].self, from: Data(String(cString: diffs).utf8)) else {
            throw EngineError(.replyParseFailed, "llama.cpp's chat parser failed on the reply: \(reason)")
        }
        return .success(wire.map { diff in
            if let index = diff.tool_call_index {
                var id: String?
                if index >= ids.count {
                    while ids.count <= index { ids.append(ids.count == index ? (diff.id ?? toolCallID()) : toolCallID()) }
                    id = ids[index]
                }
                return .toolCall(index: index, id: id, name: diff.name, arguments: diff.arguments ?? "")
            }
            if let reasoning = diff.reasoning_content { return .reasoning(reasoning) }
            return .content(diff.content ?? "")
        })
    }

    private struct WireMessage: Decodable {
        struct Call: Decodable { var name: String; var id: String; var arguments: String }
        var content: String
        var reasoning_content: String
        var tool_calls: [Call]
    }

    private struct WireDiff: Decodable {
        var reasoning_content: String?
        var content: String?
        var tool_call_index: Int?
        var name: String?
        var id: String?
        var arguments: String?
    }
}

extension JinjaChatTemplate {
    /// Renders `request` through llama.cpp's chat layer (see ChatRendering).
    func render(_ request: ChatRenderRequest) throws(EngineError) -> ChatRendering {
        // The messages, tools and variables go in as the caller wrote them: decoding and encoding
        // them again would reorder objects' keys, and templates render tools' properties in order.
        struct Options: Encodable {
            var tool_choice: String
            var parallel_tool_calls: Bool?
            var add_generation_prompt: Bool
            var reasoning_format: String
            var enable_thinking: Bool
            var reasoning_effort: String?
        }
        let options = Options(tool_choice: request.toolChoice.rawValue, parallel_tool_calls: request.parallelToolCalls,
                              add_generation_prompt: request.addGenerationPrompt, reasoning_format: request.reasoningFormat.rawValue,
                              enable_thinking: request.enableThinking, reasoning_effort: request.reasoningEffort)
        var requestJSON = String(decoding: (try? JSONEncoder().encode(options)) ?? Data("{}".utf8), as: UTF8.self)
        requestJSON.removeLast()  // the closing brace
        requestJSON += #","messages":"# + String(decoding: request.messagesJSON, as: UTF8.self)
        if let tools = request.toolsJSON { requestJSON += #","tools":"# + String(decoding: tools, as: UTF8.self) }
        if let kwargs = request.templateKwargsJSON { requestJSON += #","chat_template_kwargs":"# + kwargs }
        requestJSON += "}"
        var result: UnsafeMutablePointer<CChar>?
        var error: UnsafeMutablePointer<CChar>?
        defer {
            gemma_common_free(result)
            gemma_common_free(error)
        }
        guard gemma_chat_templates_render(handle, requestJSON, &result, &error) == 0, let result else {
            throw EngineError(.templateFailed, "the chat template could not render this chat: " + Self.reason(error),
                              recovery: "check the messages and tools against what the model's template accepts")
        }
        do {
            return try JSONDecoder().decode(ChatRendering.self, from: Data(String(cString: result).utf8))
        } catch {
            throw EngineError(.templateFailed, "llama.cpp's chat layer gave an unreadable result: \(error)")
        }
    }
}
