import Foundation
@testable import GemmaKit
import Testing

/// OpenAI chat completions for templates with a tool or thinking syntax of their own, over HTTP:
/// the prompt and the reply's grammar come from llama.cpp's chat layer, and the reply is read by
/// its parser into `tool_calls` and `reasoning_content`, whole and streamed as llama-server
/// streams them (a call's id and name first, then its arguments).
@Suite("Native tool calls and thinking on OpenAI chat", .serialized)
struct NativeChatTests {
    static var timeTool: [String: Any] { ["type": "function", "function": [
        "name": "get_time", "description": "The time.", "parameters": ["type": "object", "properties": [String: Any]()]]] }
    static let question = [["role": "user", "content": "Weather in Paris?"]]

    /// Server-sent events' JSON objects, `[DONE]` left out.
    static func events(_ body: String) -> [[String: Any]] {
        body.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("data: "), line != "data: [DONE]" else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any]
        }
    }

    static func choice(_ object: [String: Any]) -> [String: Any] { (object["choices"] as? [[String: Any]])?.first ?? [:] }

    /// tool_choice `required` on the tiny Gemma 4, thinking off: its template's grammar applies from
    /// the first token, so even random weights write a call in Gemma 4's syntax (`}` favoured to
    /// close it). With thinking on, the grammar lets it think first, and the noise thinks forever.
    @Test func aRequiredCallOnGemma4IsToolCallsWholeAndStreamed() async throws {
        let path = try TinyGemma4.path.get()
        let closing = try TinyGemma4.model.get().tokenize("}", addSpecial: false)
        try #require(closing.count == 1)
        try await TestServer.with(slots: 1, contextSize: 1024, configure: { $0.modelPath = path }) { server in
            let request: [String: Any] = ["messages": Self.question, "tools": [Self.timeTool], "tool_choice": "required",
                                          "parallel_tool_calls": false, "chat_template_kwargs": ["enable_thinking": false], "temperature": 0, "max_tokens": 48,
                                          "logit_bias": ["\(closing[0])": 100]]
            let whole = try await server.post("/v1/chat/completions", request)
            #expect(whole.status == 200, "\(whole.body)")
            let choice = Self.choice(whole.object)
            #expect(choice["finish_reason"] as? String == "tool_calls")
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["content"] is NSNull)
            let calls = try #require(message["tool_calls"] as? [[String: Any]])
            #expect(calls.count == 1)
            let function = calls.first?["function"] as? [String: Any]
            #expect(function?["name"] as? String == "get_time")
            #expect(function?["arguments"] as? String == "{}")
            #expect((calls.first?["id"] as? String)?.isEmpty == false)

            var streamed = request
            streamed["stream"] = true
            let events = Self.events(try await server.post("/v1/chat/completions", streamed).body)
            let deltas = events.compactMap { Self.choice($0)["delta"] as? [String: Any] }
            let pieces = deltas.flatMap { $0["tool_calls"] as? [[String: Any]] ?? [] }
            let first = try #require(pieces.first)
            #expect(first["index"] as? Int == 0)
            #expect(first["type"] as? String == "function")
            #expect((first["id"] as? String)?.isEmpty == false)
            #expect((first["function"] as? [String: Any])?["name"] as? String == "get_time")
            #expect(pieces.dropFirst().allSatisfy { $0["id"] == nil && ($0["function"] as? [String: Any])?["name"] == nil },
                    "only the first piece names the call")
            let arguments = pieces.compactMap { ($0["function"] as? [String: Any])?["arguments"] as? String }.joined()
            #expect(arguments == "{}")
            #expect(deltas.allSatisfy { ($0["content"] as? String ?? "").isEmpty }, "no raw syntax as content")
            #expect(events.compactMap { Self.choice($0)["finish_reason"] as? String } == ["tool_calls"])
        }
    }

    /// A reply cut by max_tokens inside a call: its raw text as content, `length`, never half a call.
    @Test func aCallCutByMaxTokensIsRawContent() async throws {
        let path = try TinyGemma4.path.get()
        try await TestServer.with(slots: 1, contextSize: 1024, configure: { $0.modelPath = path }) { server in
            let request: [String: Any] = ["messages": Self.question, "tools": [Self.timeTool], "tool_choice": "required",
                                          "chat_template_kwargs": ["enable_thinking": false], "temperature": 0, "max_tokens": 12]
            let whole = try await server.post("/v1/chat/completions", request)
            #expect(whole.status == 200, "\(whole.body)")
            let choice = Self.choice(whole.object)
            #expect(choice["finish_reason"] as? String == "length")
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["tool_calls"] == nil)
            #expect((message["content"] as? String)?.hasPrefix("<|tool_call>call") == true)

            var streamed = request
            streamed["stream"] = true
            let events = Self.events(try await server.post("/v1/chat/completions", streamed).body)
            #expect(events.compactMap { Self.choice($0)["finish_reason"] as? String } == ["length"])
        }
    }

    /// A reply forced by `grammar` into Qwen 3's thinking syntax (the default model, Qwen 3's
    /// template file): `reasoning_content` apart from `content`, whole and streamed, as llama-server
    /// splits it; `reasoning_format: none` leaves it in the content.
    @Test func thinkingInQwen3sSyntaxIsReasoningContent() async throws {
        let options = try LlamaTemplates.options("Qwen-Qwen3-0.6B")
        try await TestServer.with(slots: 1, configure: { $0.chatTemplate = options }) { server in
            let request: [String: Any] = ["messages": [["role": "user", "content": "Hi"]], "temperature": 0, "max_tokens": 32,
                                          "grammar": #"root ::= "<think>\nJust greet.\n</think>\n\nHello there!""#]
            let whole = try await server.post("/v1/chat/completions", request)
            #expect(whole.status == 200, "\(whole.body)")
            let choice = Self.choice(whole.object)
            #expect(choice["finish_reason"] as? String == "stop")
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["reasoning_content"] as? String == "Just greet.\n")
            #expect(message["content"] as? String == "Hello there!")

            var streamed = request
            streamed["stream"] = true
            let deltas = Self.events(try await server.post("/v1/chat/completions", streamed).body)
                .compactMap { Self.choice($0)["delta"] as? [String: Any] }
            #expect(deltas.compactMap { $0["reasoning_content"] as? String }.joined() == "Just greet.\n")
            #expect(deltas.compactMap { $0["content"] as? String }.joined() == "Hello there!")

            var inline = request
            inline["reasoning_format"] = "none"
            let kept = Self.choice(try await server.post("/v1/chat/completions", inline).object)["message"] as? [String: Any]
            #expect(kept?["reasoning_content"] == nil)
            #expect(kept?["content"] as? String == "<think>\nJust greet.\n</think>\n\nHello there!")

            inline["reasoning_format"] = "sideways"
            let bad = try await server.post("/v1/chat/completions", inline)
            #expect(bad.status == 400 && bad.errorMessage.contains("reasoning_format"))

            let badBudget = try await server.post("/v1/chat/completions", ["messages": [["role": "user", "content": "Hi"]], "reasoning_budget_tokens": -2])
            #expect(badBudget.status == 400 && badBudget.errorMessage.contains("reasoning_budget_tokens"))
        }
    }

    /// A GBNF `grammar` with tools is a 400 naming `grammar`, as llama-server refuses it ("Cannot use
    /// custom grammar constraints with tools."), with the default template and with one that has its
    /// own tool syntax; with `tool_choice: none` the tools constrain nothing and the grammar applies.
    @Test func aGrammarWithToolsIsRefused() async throws {
        let qwen = try LlamaTemplates.options("Qwen-Qwen3-0.6B")
        for options in [ChatTemplateOptions(), qwen] {
            try await TestServer.with(slots: 1, configure: { $0.chatTemplate = options }) { server in
                let tools: [[String: Any]] = [["type": "function", "function": ["name": "get_weather",
                    "parameters": ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]]]]]
                var request: [String: Any] = ["messages": [["role": "user", "content": "Weather in Paris?"]], "tools": tools,
                                              "max_tokens": 8, "temperature": 0, "grammar": #"root ::= "Sunny""#]
                let refused = try await server.post("/v1/chat/completions", request)
                #expect(refused.status == 400, "\(refused.body)")
                #expect(refused.errorMessage.contains("'grammar' cannot be combined with 'tools'"), "\(refused.body)")
                #expect(refused.object["error"].flatMap { ($0 as? [String: Any])?["param"] as? String } == "grammar")
                request["tool_choice"] = "none"
                let plain = try await server.post("/v1/chat/completions", request)
                #expect(plain.status == 200, "\(plain.body)")
                #expect((Self.choice(plain.object)["message"] as? [String: Any])?["content"] as? String == "Sunny")
            }
        }
    }
}
