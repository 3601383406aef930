import Foundation
@testable import GemmaKit
import Testing

/// Anthropic's Messages API over HTTP on the real model: messages whole and streamed as
/// Anthropic's event sequence, tools forced so a call is certain, a tool_result round trip,
/// count_tokens against /chat/completions/input_tokens, and errors in Anthropic's shape.
@Suite("Anthropic Messages API", .serialized)
struct AnthropicTests {
    static var weatherTool: [String: Any] { ["name": "get_weather", "description": "The weather in a city.", "input_schema": weatherParameters] }

    /// A request as Anthropic's clients send it: the key in `x-api-key`, with `anthropic-version`.
    static func post(_ server: TestServer, _ path: String, _ json: [String: Any], key: String? = "test-key") async throws -> TestServer.Reply {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        return try await server.request(.POST, path, body: body, key: nil,
                                        headers: [("anthropic-version", "2023-06-01")] + (key.map { [("x-api-key", $0)] } ?? []))
    }

    /// An SSE body's events: each `event:` name with its `data:` object (which must name the same type).
    static func events(_ body: String, sourceLocation: SourceLocation = #_sourceLocation) -> [(name: String, data: [String: Any])] {
        body.components(separatedBy: "\n\n").compactMap { frame -> (name: String, data: [String: Any])? in
            let lines = frame.split(separator: "\n")
            guard let name = lines.first(where: { $0.hasPrefix("event: ") })?.dropFirst(7),
                  let data = lines.first(where: { $0.hasPrefix("data: ") })?.dropFirst(6) else { return nil }
            guard let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else {
                Issue.record("event \(name) has data that is not a JSON object: \(data)", sourceLocation: sourceLocation)
                return nil
            }
            #expect(object["type"] as? String == String(name), "event: \(name) carries type \(object["type"] ?? "none")", sourceLocation: sourceLocation)
            return (String(name), object)
        }
    }

    static func errorObject(_ reply: TestServer.Reply) -> [String: Any] {
        #expect(reply.object["type"] as? String == "error", "\(reply.body)")
        return reply.object["error"] as? [String: Any] ?? [:]
    }

    @Test func aMessageWholeAndStreamed() async throws {
        try await TestServer.with(slots: 1) { server in
            let request: [String: Any] = [
                "model": "claude-anything", "max_tokens": 6, "temperature": 0, "metadata": ["user_id": "u1"],
                "system": [["type": "text", "text": "You are terse."], ["type": "text", "text": "Answer in English.", "cache_control": ["type": "ephemeral"]]],
                "messages": [["role": "user", "content": "Hello"], ["role": "assistant", "content": [["type": "text", "text": "Hi."]]],
                             ["role": "user", "content": [["type": "text", "text": "Name a colour."]]]],
            ]
            let whole = try await Self.post(server, "/v1/messages", request)
            #expect(whole.status == 200, "\(whole.body)")
            let message = whole.object
            #expect((message["id"] as? String)?.hasPrefix("msg_") == true)
            #expect(message["type"] as? String == "message")
            #expect(message["role"] as? String == "assistant")
            #expect(message["model"] as? String == server.server.core.modelID)
            #expect(message["stop_reason"] as? String == "max_tokens")
            #expect(message["stop_sequence"] is NSNull)
            let content = try #require(message["content"] as? [[String: Any]])
            #expect(content.count == 1 && content[0]["type"] as? String == "text" && !(content[0]["text"] as? String ?? "").isEmpty, "\(content)")
            let usage = try #require(message["usage"] as? [String: Any])
            #expect(usage["output_tokens"] as? Int == 6)
            let input = try #require(usage["input_tokens"] as? Int)
            let cached = try #require(usage["cache_read_input_tokens"] as? Int)

            var streamed = request
            streamed["stream"] = true
            let reply = try await Self.post(server, "/v1/messages", streamed)
            #expect(reply.status == 200)
            #expect(reply.headers.first(name: "Content-Type") == "text/event-stream")
            let events = Self.events(reply.body)
            let names = events.map(\.name)
            #expect(Array(names.prefix(3)) == ["message_start", "ping", "content_block_start"], "\(names)")
            #expect(Array(names.suffix(3)) == ["content_block_stop", "message_delta", "message_stop"], "\(names)")
            #expect(Set(names.dropFirst(3).dropLast(3)) == ["content_block_delta"], "\(names)")
            let start = try #require(events.first?.data["message"] as? [String: Any])
            #expect(start["content"] as? [Any] != nil && start["stop_reason"] is NSNull && start["stop_sequence"] is NSNull)
            let startUsage = start["usage"] as? [String: Any]
            #expect((startUsage?["input_tokens"] as? Int ?? 0) + (startUsage?["cache_read_input_tokens"] as? Int ?? 0) == input + cached)
            #expect(startUsage?["output_tokens"] as? Int == 0)
            #expect((events[2].data["content_block"] as? [String: Any])?["type"] as? String == "text")
            let deltas = events.filter { $0.name == "content_block_delta" }.map { $0.data }
            #expect(deltas.allSatisfy { $0["index"] as? Int == 0 && ($0["delta"] as? [String: Any])?["type"] as? String == "text_delta" })
            let streamedText = deltas.compactMap { ($0["delta"] as? [String: Any])?["text"] as? String }.joined()
            #expect(!streamedText.isEmpty)
            let end = events[events.count - 2].data
            #expect((end["delta"] as? [String: Any])?["stop_reason"] as? String == "max_tokens")
            #expect((end["usage"] as? [String: Any])?["output_tokens"] as? Int == 6)
        }
    }

    /// tool_choice `tool` forces the call; `any` does too. The call comes back as a tool_use block
    /// (whole) or its start and input_json_delta (streamed), and its result goes back as a
    /// tool_result block.
    @Test func aForcedToolCallAndItsResult() async throws {
        try await TestServer.with(slots: 1) { server in
            let question: [String: Any] = ["role": "user", "content": "What is the weather in Paris?"]
            var request: [String: Any] = ["model": "m", "max_tokens": 200, "temperature": 0, "messages": [question],
                                          "tools": [Self.weatherTool], "tool_choice": ["type": "tool", "name": "get_weather"]]
            let whole = try await Self.post(server, "/v1/messages", request)
            #expect(whole.status == 200, "\(whole.body)")
            #expect(whole.object["stop_reason"] as? String == "tool_use", "\(whole.body)")
            let blocks = try #require(whole.object["content"] as? [[String: Any]])
            let call = try #require(blocks.first { $0["type"] as? String == "tool_use" }, "\(blocks)")
            #expect(call["name"] as? String == "get_weather")
            let callID = try #require(call["id"] as? String)
            let input = try #require(call["input"] as? [String: Any])
            #expect(weatherProblems(input).isEmpty, "\(input)")

            request["stream"] = true
            request["tool_choice"] = ["type": "any"]
            let events = Self.events(try await Self.post(server, "/v1/messages", request).body)
            let start = try #require(events.first { ($0.data["content_block"] as? [String: Any])?["type"] as? String == "tool_use" })
            let block = try #require(start.data["content_block"] as? [String: Any])
            #expect(block["name"] as? String == "get_weather" && !(block["id"] as? String ?? "").isEmpty)
            let index = try #require(start.data["index"] as? Int)
            let partial = events.filter { $0.name == "content_block_delta" && $0.data["index"] as? Int == index }
                .compactMap { $0.data["delta"] as? [String: Any] }
            #expect(partial.allSatisfy { $0["type"] as? String == "input_json_delta" })
            let json = partial.compactMap { $0["partial_json"] as? String }.joined()
            #expect(weatherProblems(try JSONSerialization.jsonObject(with: Data(json.utf8))).isEmpty, "\(json)")
            #expect(events.contains { $0.name == "content_block_stop" && $0.data["index"] as? Int == index })
            let end = try #require(events.first { $0.name == "message_delta" })
            #expect((end.data["delta"] as? [String: Any])?["stop_reason"] as? String == "tool_use")

            // The result goes back; the chat renders as the same chat in OpenAI's shape would.
            let roundTrip: [String: Any] = [
                "model": "m", "max_tokens": 12, "temperature": 0, "tools": [Self.weatherTool], "tool_choice": ["type": "none"],
                "messages": [question,
                             ["role": "assistant", "content": [["type": "tool_use", "id": callID, "name": "get_weather", "input": input]]],
                             ["role": "user", "content": [["type": "tool_result", "tool_use_id": callID,
                                                           "content": [["type": "text", "text": "18 degrees, sunny"]]]]]],
            ]
            let answer = try await Self.post(server, "/v1/messages", roundTrip)
            #expect(answer.status == 200, "\(answer.body)")
            #expect((answer.object["content"] as? [[String: Any]])?.first?["type"] as? String == "text", "\(answer.body)")

            let openAI: [String: Any] = [
                "tools": [["type": "function", "function": ["name": "get_weather", "description": "The weather in a city.", "parameters": weatherParameters]]],
                "tool_choice": "none",
                "messages": [question,
                             ["role": "assistant", "content": "", "tool_calls": [["id": callID, "type": "function", "function": [
                                 "name": "get_weather", "arguments": String(decoding: try JSONSerialization.data(withJSONObject: input), as: UTF8.self)]]]],
                             ["role": "tool", "tool_call_id": callID, "content": "18 degrees, sunny"]],
            ]
            let counted = try await Self.post(server, "/v1/messages/count_tokens", roundTrip)
            let expected = try await server.post("/chat/completions/input_tokens", openAI)
            #expect(counted.status == 200 && expected.status == 200, "\(counted.body) \(expected.body)")
            #expect(counted.object["input_tokens"] as? Int == expected.object["input_tokens"] as? Int, "\(counted.body) \(expected.body)")
            #expect(counted.object.keys.sorted() == ["input_tokens"])
        }
    }

    /// On the tiny Gemma 4, whose template has its own tool syntax: the call takes the path OpenAI
    /// chat takes (the template renders the tool, its grammar forces a call in Gemma 4's syntax, its
    /// parser reads it), thinking disabled through `thinking`. Random weights do not close the call
    /// within max_tokens: whole, the reply is its raw text, never half a call; streamed, the raw
    /// syntax never shows as text, and the message ends on max_tokens.
    @Test func aForcedCallInGemma4sOwnSyntaxCutByMaxTokens() async throws {
        let path = try TinyGemma4.path.get()
        try await TestServer.with(slots: 1, contextSize: 1024, configure: { $0.modelPath = path }) { server in
            let tool: [String: Any] = ["name": "get_time", "description": "The time.", "input_schema": ["type": "object", "properties": [String: Any]()]]
            var request: [String: Any] = ["model": "m", "max_tokens": 12, "temperature": 0, "thinking": ["type": "disabled"],
                                          "messages": [["role": "user", "content": "What time is it?"]],
                                          "tools": [tool], "tool_choice": ["type": "any"]]
            let whole = try await Self.post(server, "/v1/messages", request)
            #expect(whole.status == 200, "\(whole.body)")
            #expect(whole.object["stop_reason"] as? String == "max_tokens", "\(whole.body)")
            let blocks = try #require(whole.object["content"] as? [[String: Any]])
            #expect(blocks.map { $0["type"] as? String } == ["text"], "\(blocks)")
            #expect((blocks.first?["text"] as? String)?.hasPrefix("<|tool_call>call") == true, "\(blocks)")

            request["stream"] = true
            let events = Self.events(try await Self.post(server, "/v1/messages", request).body)
            let text = events.compactMap { ($0.data["delta"] as? [String: Any])?["text"] as? String }.joined()
            #expect(!text.contains("<|tool_call>"), "\(text)")
            let end = try #require(events.first { $0.name == "message_delta" })
            #expect((end.data["delta"] as? [String: Any])?["stop_reason"] as? String == "max_tokens")
            #expect(events.last?.name == "message_stop")
        }
    }

    @Test func countTokensIsThePromptsLength() async throws {
        try await TestServer.with(slots: 1) { server in
            let counted = try await Self.post(server, "/v1/messages/count_tokens", [
                "model": "m", "system": "Be brief.", "messages": [["role": "user", "content": [["type": "text", "text": "Hello there"]]]],
            ])
            let expected = try await server.post("/chat/completions/input_tokens", [
                "messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hello there"]],
            ])
            #expect(counted.status == 200, "\(counted.body)")
            let tokens = try #require(counted.object["input_tokens"] as? Int)
            #expect(tokens > 5 && tokens == expected.object["input_tokens"] as? Int, "\(counted.body) \(expected.body)")
        }
    }

    @Test func errorsHaveAnthropicsShape() async throws {
        try await TestServer.with(slots: 1) { server in
            let good: [String: Any] = ["model": "m", "max_tokens": 4, "messages": [["role": "user", "content": "Hi"]]]
            let unauthorized = try await Self.post(server, "/v1/messages", good, key: "wrong")
            #expect(unauthorized.status == 401)
            #expect(Self.errorObject(unauthorized)["type"] as? String == "authentication_error")
            let noKey = try await Self.post(server, "/v1/messages/count_tokens", good, key: nil)
            #expect(noKey.status == 401 && Self.errorObject(noKey)["type"] as? String == "authentication_error")

            let cases: [(body: [String: Any], field: String)] = [
                (["max_tokens": 4], "messages"),
                (["max_tokens": 4, "messages": [["role": "user", "content": [["type": "image", "source": ["type": "base64", "media_type": "image/png", "data": "AA=="]]]]]],
                 "messages[0].content[0].type"),
                (["max_tokens": 4, "messages": [["role": "system", "content": "Hi"]]], "messages[0].role"),
                (["max_tokens": 4, "messages": [["role": "user", "content": [["type": "tool_use", "id": "a", "name": "f", "input": [:]]]]]],
                 "messages[0].content[0].type"),
                (["max_tokens": 4, "messages": [["role": "user", "content": "Hi"]], "tools": [Self.weatherTool],
                  "tool_choice": ["type": "tool", "name": "nope"]], "tool_choice.name"),
                (["max_tokens": 4, "messages": [["role": "user", "content": "Hi"]], "tools": [["name": "bad name", "input_schema": ["type": "object"]]]],
                 "tools[0].name"),
                (["max_tokens": 4, "messages": [["role": "user", "content": "Hi"]], "tools": [["type": "web_search_20250305", "name": "web_search"]]],
                 "tools[0].type"),
                (["max_tokens": 4, "messages": [["role": "user", "content": "Hi"]], "thinking": ["type": "sometimes"]], "thinking.type"),
                (["max_tokens": 4, "messages": [["role": "user", "content": "Hi"]], "thinking": ["type": "enabled", "budget_tokens": "many"]],
                 "thinking.budget_tokens"),
                (["max_tokens": 4, "messages": [["role": "user", "content": "Hi"]], "output_format": ["type": "json_schema"]], "output_format"),
                (["max_tokens": 4, "messages": [["role": "user", "content": "Hi"]], "output_config": ["effort": "low", "format": ["type": "json_schema"]]],
                 "output_config.format"),
                (["max_tokens": -1, "messages": [["role": "user", "content": "Hi"]]], "max_tokens"),
                (["max_tokens": 4, "messages": [["role": "user", "content": "Hi"]], "temperature": -1], "temperature"),
            ]
            for (body, field) in cases {
                let reply = try await Self.post(server, "/v1/messages", body)
                #expect(reply.status == 400, "\(field): \(reply.body)")
                let error = Self.errorObject(reply)
                #expect(error["type"] as? String == "invalid_request_error", "\(field): \(reply.body)")
                #expect((error["message"] as? String)?.contains("'\(field)'") == true, "\(field): \(reply.body)")
            }

            // Accepted: thinking enabled with a budget, thinking history, tool_choice auto without tools.
            let accepted = try await Self.post(server, "/v1/messages", [
                "model": "m", "max_tokens": 2, "thinking": ["type": "enabled", "budget_tokens": 1024], "tool_choice": ["type": "auto"],
                "messages": [["role": "user", "content": "Hi"],
                             ["role": "assistant", "content": [["type": "thinking", "thinking": "Greet back.", "signature": "x"], ["type": "text", "text": "Hello"]]],
                             ["role": "user", "content": "Again"]],
            ])
            #expect(accepted.status == 200, "\(accepted.body)")
        }
    }
}

/// The codec alone, on replies written by hand: thinking in Qwen 3's syntax through its template's
/// parser, and the stop reasons.
@Suite("Anthropic codec")
struct AnthropicCodecTests {
    static func stats(_ reason: FinishReason, stopType: StopType = .eos, word: String = "") -> GenerationStats {
        var stats = GenerationStats(finishReason: reason, promptTokens: 10, cachedTokens: 3, completionTokens: 5,
                                    queueDuration: .zero, promptDuration: .zero, generationDuration: .zero, slot: 0)
        stats.stopType = stopType
        stats.stoppingWord = word
        return stats
    }

    static func qwen3Reader() throws -> ChatReplyReader {
        .native(try NativeReplyDecoder(try ChatSyntaxTests.render("Qwen-Qwen3-0.6B", tools: false), choices: 1))
    }

    @Test func thinkingIsAThinkingBlockWholeAndStreamed() throws {
        let reply = "<think>\nJust greet.\n</think>\n\nHello there!"
        let whole = AnthropicCodec(id: "msg_1", model: "m", stopSequences: [], reader: try Self.qwen3Reader())
            .message(CollectedGeneration(text: reply, stats: Self.stats(.stop)))
        #expect(whole.content.map(\.type) == ["thinking", "text"])
        #expect(whole.content[0].thinking == "Just greet.\n" && whole.content[0].signature == "")
        #expect(whole.content[1].text == "Hello there!")
        #expect(whole.stopReason == "end_turn" && whole.usage.inputTokens == 7 && whole.usage.cacheReadInputTokens == 3)

        let codec = AnthropicCodec(id: "msg_2", model: "m", stopSequences: [], reader: try Self.qwen3Reader())
        var lines = codec.encode(.started(slot: 0, promptTokens: 10, cachedTokens: 3))
        for piece in reply.split(every: 3) { lines += codec.encode(.text(piece, logprobs: [], tokens: [])) }
        lines += codec.encode(.finished(Self.stats(.stop)))
        let events = AnthropicTests.events(lines.joined())
        var kinds: [String] = []
        var thinking = "", text = ""
        for (name, data) in events {
            let delta = data["delta"] as? [String: Any]
            switch name {
            case "content_block_start": kinds.append("start \(data["index"] ?? "") \((data["content_block"] as? [String: Any])?["type"] ?? "")")
            case "content_block_stop": kinds.append("stop \(data["index"] ?? "")")
            case "content_block_delta":
                if delta?["type"] as? String == "signature_delta" { kinds.append("signature \(data["index"] ?? "")") }
                thinking += delta?["thinking"] as? String ?? ""
                text += delta?["text"] as? String ?? ""
            default: kinds.append(name)
            }
        }
        #expect(kinds == ["message_start", "ping", "start 0 thinking", "signature 0", "stop 0", "start 1 text", "stop 1", "message_delta", "message_stop"],
                "\(kinds)")
        #expect(thinking == "Just greet.\n" && text == "Hello there!")
    }

    @Test func stopReasons() throws {
        let codec = AnthropicCodec(id: "msg_1", model: "m", stopSequences: ["END"], reader: .plain)
        func reason(_ stats: GenerationStats) -> String {
            let message = codec.message(CollectedGeneration(text: "x", stats: stats))
            return "\(message.stopReason ?? "null") \(message.stopSequence ?? "null")"
        }
        #expect(reason(Self.stats(.stop)) == "end_turn null")
        #expect(reason(Self.stats(.length, stopType: .limit)) == "max_tokens null")
        #expect(reason(Self.stats(.stop, stopType: .word, word: "END")) == "stop_sequence END")
        // A template's own stop string is the end of the turn, not one of the request's sequences.
        #expect(reason(Self.stats(.stop, stopType: .word, word: "<|im_end|>")) == "end_turn null")
        #expect(AnthropicRequest.normalizingBillingHeader("x-anthropic-billing-header: cc_version=2.1; cch=a5145;You are")
            == "x-anthropic-billing-header: cc_version=2.1; cch=fffff;You are")
        #expect(AnthropicRequest.normalizingBillingHeader("Plain cch=a5145;") == "Plain cch=a5145;")
    }
}

private extension String {
    func split(every size: Int) -> [String] {
        let characters = Array(self)
        return stride(from: 0, to: characters.count, by: size).map { String(characters[$0..<min($0 + size, characters.count)]) }
    }
}
