import Foundation
@testable import GemmaKit
import Testing

/// llama.cpp's chat layer behind the engine: chats rendered with tools and thinking through the
/// templates of llama.cpp's source, and replies written here by hand in each family's syntax (from
/// its template and format) parsed into thinking, content and tool calls, whole and streamed in
/// small pieces, as the server will parse a model's reply.
@Suite("llama.cpp's chat layer: native tool calls and thinking", .serialized)
struct ChatSyntaxTests {
    static let weatherTool = #"""
        [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                         "required": ["city"]}}}]
        """#
    static let question = #"[{"role": "user", "content": "Weather in Paris?"}]"#

    /// `template` (a file of llama.cpp's models/templates) with the default model's BOS and EOS.
    static func template(_ name: String) throws -> JinjaChatTemplate {
        let source = try String(contentsOfFile: LlamaTemplates.path(name), encoding: .utf8)
        return try JinjaChatTemplate(model: TestModel.shared, source: source)
    }

    static func render(_ name: String, tools: Bool = true, thinking: Bool = true, toolChoice: ToolChoiceMode = .auto,
                       reasoningFormat: ReasoningFormat = .auto, messages: String = question) throws -> ChatRendering {
        try template(name).render(ChatRenderRequest(
            messagesJSON: Data(messages.utf8), toolsJSON: tools ? Data(weatherTool.utf8) : nil, toolChoice: toolChoice,
            reasoningFormat: reasoningFormat, enableThinking: thinking))
    }

    // MARK: Rendering

    @Test func gemma4RendersToolsAndThinkingInItsOwnSyntax() throws {
        let rendering = try Self.render("google-gemma-4-31B-it")
        #expect(rendering.format == "peg-gemma4")
        // The template's <bos> is left out, as llama-server leaves it: tokenizing adds it.
        #expect(rendering.prompt.hasPrefix("<|turn>system\n<|think|>\n<|tool>declaration:get_weather{description:<|\"|>The weather in a city.<|\"|>"))
        #expect(rendering.prompt.hasSuffix("<|turn>user\nWeather in Paris?<turn|>\n<|turn>model\n"))
        #expect(!rendering.prompt.contains("\"type\": \"function\""), "the template, not gemmactl's JSON, describes the tools")
        #expect(rendering.grammar?.contains("tool-get-weather") == true)
        #expect(rendering.grammarIsLazy)
        #expect(rendering.grammarTriggers == [GrammarTrigger(kind: .word, value: "<|tool_call>")])
        #expect(rendering.preservedTokens.contains("<|tool_call>") && rendering.preservedTokens.contains("<|channel>"))
        #expect(rendering.supportsThinking)
        #expect(rendering.thinkingStartTag == "<|channel>thought")
        #expect(rendering.thinkingEndTags == ["<channel|>"])
        #expect(rendering.generationPrompt == "<|turn>model\n")

        let quiet = try Self.render("google-gemma-4-31B-it", tools: false, thinking: false)
        #expect(!quiet.prompt.contains("<|think|>") && !quiet.prompt.contains("<|tool>"))
        #expect(quiet.prompt.hasSuffix("<|turn>model\n<|channel>thought\n<channel|>"), "thinking off: an empty thought block is prefilled")
        #expect(quiet.grammar == nil)
    }

    @Test func toolChoiceRequiredConstrainsFromTheFirstToken() throws {
        let rendering = try Self.render("google-gemma-4-31B-it", toolChoice: .required)
        #expect(rendering.grammar != nil)
        #expect(!rendering.grammarIsLazy)
        let none = try Self.render("google-gemma-4-31B-it", toolChoice: .none)
        #expect(none.grammar == nil)
    }

    @Test func badToolsAndMessagesAreTemplateErrors() throws {
        let template = try Self.template("google-gemma-4-31B-it")
        let badTools = #"[{"type": "function", "function": {"description": "no name"}}]"#
        #expect {
            try template.render(ChatRenderRequest(messagesJSON: Data(Self.question.utf8), toolsJSON: Data(badTools.utf8)))
        } throws: { ($0 as? EngineError)?.code == .templateFailed }
        #expect {
            try template.render(ChatRenderRequest(messagesJSON: Data(Self.question.utf8), toolsJSON: Data(#"[{"type": "retrieval"}]"#.utf8)))
        } throws: { ($0 as? EngineError)?.code == .templateFailed }
        #expect {
            try template.render(ChatRenderRequest(messagesJSON: Data(#"{"role": "user"}"#.utf8)))
        } throws: { ($0 as? EngineError)?.code == .templateFailed }
        #expect {
            try template.render(ChatRenderRequest(messagesJSON: Data(Self.question.utf8), templateKwargsJSON: #"{"enable_thinking": "yes"}"#))
        } throws: { ($0 as? EngineError)?.code == .templateFailed }
    }

    @Test func historyWithToolCallsRendersInTheTemplatesSyntax() throws {
        let history = #"""
            [{"role": "user", "content": "Weather in Paris?"},
             {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
               "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
             {"role": "tool", "tool_call_id": "call_1", "content": "{\"sky\": \"clear\"}"}]
            """#
        let gemma = try Self.render("google-gemma-4-31B-it", thinking: false, messages: history)
        #expect(gemma.prompt.contains("<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|><|tool_response>response:get_weather{value:<|\"|>{\"sky\": \"clear\"}<|\"|>}<tool_response|>"))
        let qwen = try Self.render("Qwen-Qwen3-0.6B", messages: history)
        #expect(qwen.prompt.contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"))
        #expect(qwen.prompt.contains("<tool_response>\n{\"sky\": \"clear\"}\n</tool_response>"))
    }

    @Test func theDefaultModelKeepsGemmasTurnsAndNoNativeSyntax() throws {
        let formatter = try ChatFormatter(model: TestModel.shared)
        #expect(try formatter.rendering(ChatRenderRequest(messagesJSON: Data(Self.question.utf8))) == nil)
    }

    // MARK: Parsing, whole and streamed

    @Test func gemma4ThinkingContentAndToolCalls() throws {
        let rendering = try Self.render("google-gemma-4-31B-it")
        let reply = "<|channel>thought\nThe user wants the weather.<channel|>Let me check."
            + "<|tool_call>call:get_weather{city:<|\"|>Paris, France<|\"|>,days:3}<tool_call|>"
            + "<|tool_call>call:get_weather{city:<|\"|>Lyon<|\"|>}<tool_call|>"
        let deltas = try Self.check(reply, rendering, expected: Self.message(
            content: "Let me check.", reasoning: "The user wants the weather.",
            calls: [("get_weather", #"{"city":"Paris, France","days":3}"#), ("get_weather", #"{"city":"Lyon"}"#)]))
        // Streamed as llama-server streams: the name with the call's first delta, then argument fragments.
        let first = deltas.compactMap { delta -> (Int, String?, String)? in
            if case .toolCall(let index, _, let name, let arguments) = delta { return (index, name, arguments) }
            return nil
        }
        #expect(first.first?.0 == 0 && first.first?.1 == "get_weather")
        #expect(first.filter { $0.0 == 0 }.count > 3, "arguments arrive in fragments")
        #expect(first.dropFirst().filter { $0.0 == 0 }.allSatisfy { $0.1 == nil })

        try Self.check("<|channel>thought\nJust greet.<channel|>Hello there!", rendering,
                       expected: Self.message(content: "Hello there!", reasoning: "Just greet."))
    }

    @Test func gemma4ReasoningFormatNoneLeavesThinkingInTheContent() throws {
        let rendering = try Self.render("google-gemma-4-31B-it", tools: false, reasoningFormat: .none)
        let reply = "<|channel>thought\nJust greet.<channel|>Hello there!"
        let parsed = try ChatReplyParser.parse(reply, rendering: rendering)
        #expect(parsed.message == Self.message(content: reply))
    }

    @Test func qwen3ThinkingAndToolCalls() throws {
        let rendering = try Self.render("Qwen-Qwen3-0.6B")
        #expect(rendering.format == "peg-native")
        #expect(rendering.prompt.contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""))
        try Self.check("<think>\nThe user asks about Paris.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>",
                       rendering, expected: Self.message(reasoning: "The user asks about Paris.\n",
                                                         calls: [("get_weather", #"{"city": "Paris", "days": 2}"#)]))
        try Self.check("<think>\nJust greet.\n</think>\n\nHello there!", rendering,
                       expected: Self.message(content: "Hello there!", reasoning: "Just greet.\n"))
    }

    @Test func deepseekLegacyReturnsThinkingApartStreamedToo() throws {
        let rendering = try Self.render("Qwen-Qwen3-0.6B", tools: false, reasoningFormat: .deepseekLegacy)
        let reply = "<think>\nJust greet.\n</think>\n\nHello there!"
        // deepseek-legacy: the pinned llama.cpp returns the thinking apart, streamed or not.
        try Self.check(reply, rendering, expected: Self.message(content: "Hello there!", reasoning: "Just greet.\n"))
    }

    @Test func llama3JSONToolCalls() throws {
        let rendering = try Self.render("meta-llama-Llama-3.1-8B-Instruct")
        #expect(rendering.prompt.contains("Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}"))
        try Self.check(#"{"name": "get_weather", "parameters": {"city": "Paris"}}"#, rendering,
                       expected: Self.message(calls: [("get_weather", #"{"city": "Paris"}"#)]))
        try Self.check("It is sunny in Paris.", rendering, expected: Self.message(content: "It is sunny in Paris."))
        let llama32 = try Self.render("meta-llama-Llama-3.2-3B-Instruct")
        try Self.check(#"{"name": "get_weather", "parameters": {"city": "Oslo", "days": 1}}"#, llama32,
                       expected: Self.message(calls: [("get_weather", #"{"city": "Oslo", "days": 1}"#)]))
    }

    @Test func gptOSSHarmonyChannels() throws {
        let rendering = try Self.render("openai-gpt-oss-120b")
        #expect(rendering.generationPrompt == "<|start|>assistant")
        #expect(rendering.prompt.contains("type get_weather = (_: {\ncity: string,\ndays?: number,\n}) => any;"))
        try Self.check("<|channel|>analysis<|message|>Need the weather tool.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}",
                       rendering, expected: Self.message(reasoning: "Need the weather tool.", calls: [("get_weather", #"{"city":"Paris"}"#)]))
        try Self.check("<|channel|>analysis<|message|>Simple greeting.<|end|><|start|>assistant<|channel|>final<|message|>Hello!",
                       rendering, expected: Self.message(content: "Hello!", reasoning: "Simple greeting."))
    }

    // MARK: Replies that break off

    @Test func aReplyCutInsideAToolCallIsRawContentNeverAHalfCall() throws {
        let cases: [(String, String)] = [
            ("google-gemma-4-31B-it", "<|channel>thought\nWeather.<channel|>Checking.<|tool_call>call:get_weather{city:<|\"|>Par"),
            ("google-gemma-4-31B-it", "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|><|tool_call>call:get_wea"),
            ("google-gemma-4-31B-it", "Let me check.<|tool_call>"),
            ("Qwen-Qwen3-0.6B", "<think>\nParis.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Pa"),
            ("openai-gpt-oss-120b", "<|channel|>analysis<|message|>Tool.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Pa"),
        ]
        for (template, reply) in cases {
            let rendering = try Self.render(template)
            let whole = try ChatReplyParser.parse(reply, rendering: rendering)
            guard case .unparsed = whole.outcome else {
                Issue.record("\(template): a cut reply parsed as \(whole.message)")
                continue
            }
            #expect(whole.message == Self.message(content: reply), "\(template)")
            // Streamed: what went out stays out; the finished message is the raw reply.
            let parser = try rendering.replyParser()
            _ = try parser.feed(reply)
            let end = try parser.finish()
            #expect(end.outcome != .parsed)
            #expect(parser.message == Self.message(content: reply))
        }
    }

    @Test func thinkingThatNeverClosesIsReturnedAsThinking() throws {
        for (template, reply, thinking) in [
            ("google-gemma-4-31B-it", "<|channel>thought\nI keep wondering", "I keep wondering"),
            ("Qwen-Qwen3-0.6B", "<think>\nI keep wondering", "I keep wondering"),
        ] {
            let rendering = try Self.render(template)
            try Self.check(reply, rendering, expected: Self.message(reasoning: thinking))
        }
    }

    @Test func withoutTheRenderedParserEveryReplyIsContent() throws {
        // common_chat_parse treats a reply as plain content unless the parser rendering built is
        // loaded: the spec without it shows the difference, so the parser is known to be used.
        let rendering = try Self.render("google-gemma-4-31B-it")
        let reply = "<|channel>thought\nHm.<channel|><|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|>"
        var spec = try JSONSerialization.jsonObject(with: Data(rendering.parserSpec.utf8)) as! [String: Any]
        #expect((spec["parser"] as? String)?.isEmpty == false)
        spec["parser"] = ""
        let bare = try ChatReplyParser(spec: String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self),
                                       toolCallID: ChatReplyParser.randomToolCallID)
        _ = try bare.finish(reply)
        #expect(bare.message.toolCalls.isEmpty)
        #expect(bare.message.content == "<|turn>model\n" + reply)
        let loaded = try ChatReplyParser.parse(reply, rendering: rendering).message
        #expect(loaded.toolCalls.map(\.name) == ["get_weather"])
    }

    @Test func toolCallIDsAreStableAndInjectable() throws {
        let rendering = try Self.render("google-gemma-4-31B-it")
        let counter = Counter()
        let parser = try rendering.replyParser(toolCallID: { counter.next() })
        let reply = "<|tool_call>call:get_weather{city:<|\"|>A<|\"|>}<tool_call|><|tool_call>call:get_weather{city:<|\"|>B<|\"|>}<tool_call|>"
        var deltas: [ChatReplyParser.Delta] = []
        for character in reply { deltas += try parser.feed(String(character)) }
        deltas += try parser.finish().deltas
        #expect(parser.message.toolCalls.map(\.id) == ["call_1", "call_2"])
        #expect(Self.assemble(deltas).toolCalls.map(\.id) == ["call_1", "call_2"])
        #expect(ChatReplyParser.randomToolCallID().count == 32)
    }

    final class Counter: @unchecked Sendable {
        private var value = 0
        private let lock = NSLock()
        func next() -> String { lock.withLock { value += 1; return "call_\(value)" } }
    }

    /// The message that `deltas` add up to, as a client assembles a streamed reply.
    static func assemble(_ deltas: [ChatReplyParser.Delta]) -> ChatReplyParser.Message {
        var message = ChatReplyParser.Message(content: "", reasoningContent: "", toolCalls: [])
        for delta in deltas {
            switch delta {
            case .content(let text): message.content += text
            case .reasoning(let text): message.reasoningContent += text
            case .toolCall(let index, let id, let name, let arguments):
                if index == message.toolCalls.count {
                    message.toolCalls.append(ChatReplyParser.ToolCall(id: id ?? "", name: name ?? "", arguments: ""))
                }
                message.toolCalls[index].arguments += arguments
            }
        }
        return message
    }

    /// Parses `reply` whole, then streamed `size` characters at a time, and checks both give `expected`
    /// (ids aside: each parser makes its own); returns the streamed deltas.
    @discardableResult
    static func check(_ reply: String, _ rendering: ChatRendering, expected: ChatReplyParser.Message,
                      sizes: [Int] = [1, 3, 7], sourceLocation: SourceLocation = #_sourceLocation) throws -> [ChatReplyParser.Delta] {
        func withoutIDs(_ message: ChatReplyParser.Message) -> ChatReplyParser.Message {
            var message = message
            for index in message.toolCalls.indices { message.toolCalls[index].id = "" }
            return message
        }
        let whole = try ChatReplyParser.parse(reply, rendering: rendering)
        #expect(whole.outcome == .parsed, sourceLocation: sourceLocation)
        #expect(withoutIDs(whole.message) == expected, sourceLocation: sourceLocation)
        var last: [ChatReplyParser.Delta] = []
        for size in sizes {
            let parser = try rendering.replyParser()
            var deltas: [ChatReplyParser.Delta] = []
            var rest = Substring(reply)
            while !rest.isEmpty {
                deltas += try parser.feed(String(rest.prefix(size)))
                rest = rest.dropFirst(size)
            }
            let end = try parser.finish()
            #expect(end.outcome == .parsed, sourceLocation: sourceLocation)
            deltas += end.deltas
            let streamed = assemble(deltas)
            #expect(withoutIDs(streamed) == expected, "streamed \(size) at a time", sourceLocation: sourceLocation)
            #expect(streamed.toolCalls.map(\.id) == parser.message.toolCalls.map(\.id), sourceLocation: sourceLocation)
            #expect(streamed.toolCalls.allSatisfy { !$0.id.isEmpty }, sourceLocation: sourceLocation)
            last = deltas
        }
        return last
    }

    static func message(content: String = "", reasoning: String = "", calls: [(String, String)] = []) -> ChatReplyParser.Message {
        ChatReplyParser.Message(content: content, reasoningContent: reasoning,
                                toolCalls: calls.map { ChatReplyParser.ToolCall(id: "", name: $0.0, arguments: $0.1) })
    }
}
