import Foundation
@testable import GemmaKit
import Testing

/// Thinking on every API, over HTTP. DeepSeek R1's template opens a thinking block in the prompt,
/// so whatever the default model writes is thinking that never closes (cut by max_tokens): a
/// clear answer (the thinking apart, finish reason length), never a 500.
@Suite("Thinking on Ollama, Responses and OpenAI chat", .serialized)
struct ThinkingAPITests {
    static let question = [["role": "user", "content": "Hi"]]

    static func lines(_ body: String) -> [[String: Any]] {
        body.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func thinkingThatNeverClosesOnEveryAPI() async throws {
        let options = try LlamaTemplates.options("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B")
        try await TestServer.with(slots: 1, configure: { $0.chatTemplate = options }) { server in
            let shown = try await server.post("/api/show", ["model": "x"])
            #expect(shown.object["capabilities"] as? [String] == ["completion", "tools", "thinking"])

            // OpenAI chat: all reasoning_content, finish_reason length.
            let openAI = try await server.post("/v1/chat/completions", ["messages": Self.question, "temperature": 0, "max_tokens": 8])
            #expect(openAI.status == 200, "\(openAI.body)")
            let choice = (openAI.object["choices"] as? [[String: Any]])?.first ?? [:]
            #expect(choice["finish_reason"] as? String == "length")
            let message = choice["message"] as? [String: Any] ?? [:]
            let thoughts = try #require(message["reasoning_content"] as? String)
            #expect(!thoughts.isEmpty)
            #expect((message["content"] as? String ?? "").isEmpty)

            // Ollama chat, whole and streamed: message.thinking.
            let request: [String: Any] = ["model": "x", "messages": Self.question, "think": true, "stream": false,
                                          "options": ["temperature": 0, "num_predict": 8]]
            let chat = try await server.post("/api/chat", request)
            #expect(chat.status == 200, "\(chat.body)")
            let chatMessage = chat.object["message"] as? [String: Any] ?? [:]
            #expect(chatMessage["thinking"] as? String == thoughts)
            #expect(chatMessage["content"] as? String == "")
            #expect(chat.object["done_reason"] as? String == "length")
            var streamed = request
            streamed["stream"] = true
            let chunks = Self.lines(try await server.post("/api/chat", streamed).body)
            #expect(chunks.compactMap { ($0["message"] as? [String: Any])?["thinking"] as? String }.joined() == thoughts)
            #expect(chunks.compactMap { ($0["message"] as? [String: Any])?["content"] as? String }.joined() == "")
            #expect(chunks.last?["done"] as? Bool == true)

            // Ollama generate: thinking beside response.
            let generate = try await server.post("/api/generate", ["model": "x", "prompt": "Hi", "think": "high", "stream": false,
                                                                   "options": ["temperature": 0, "num_predict": 8]])
            #expect(generate.status == 200, "\(generate.body)")
            #expect((generate.object["thinking"] as? String)?.isEmpty == false)
            #expect(generate.object["response"] as? String == "")

            // Responses: a reasoning item before the message, whole and streamed as llama-server's events.
            let responsesRequest: [String: Any] = ["input": "Hi", "temperature": 0, "max_output_tokens": 8, "reasoning": ["effort": "low"]]
            let whole = try await server.post("/v1/responses", responsesRequest)
            #expect(whole.status == 200, "\(whole.body)")
            let output = whole.object["output"] as? [[String: Any]] ?? []
            #expect(output.map { $0["type"] as? String } == ["reasoning", "message"])
            let reasoningText = ((output.first?["content"] as? [[String: Any]])?.first)?["text"] as? String
            #expect(reasoningText == thoughts)
            #expect(((output.last?["content"] as? [[String: Any]])?.first)?["text"] as? String == "")
            var streamedResponses = responsesRequest
            streamedResponses["stream"] = true
            let events = try await server.post("/v1/responses", streamedResponses).body.split(separator: "\n")
                .compactMap { line -> [String: Any]? in
                    guard line.hasPrefix("data: ") else { return nil }
                    return try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any]
                }
            let types = events.compactMap { $0["type"] as? String }
            #expect(types.first { $0 != "response.created" && $0 != "response.in_progress" } == "response.output_item.added")
            #expect((events.first { $0["type"] as? String == "response.output_item.added" }?["item"] as? [String: Any])?["type"] as? String == "reasoning")
            #expect(events.filter { $0["type"] as? String == "response.reasoning_text.delta" }.compactMap { $0["delta"] as? String }.joined() == thoughts)
            #expect(types.last == "response.completed")
            let completed = (events.last?["response"] as? [String: Any])?["output"] as? [[String: Any]] ?? []
            #expect(completed.map { $0["type"] as? String } == ["reasoning", "message"])

            let badLevel = try await server.post("/api/chat", ["model": "x", "messages": Self.question, "think": "extreme"])
            #expect(badLevel.status == 400 && badLevel.body.contains("invalid think value"))
        }
    }

    /// A model whose template cannot think: think true is Ollama's 400, false is fine, and
    /// /api/show lists no thinking.
    @Test func aModelWithoutThinkingRefusesThinkTrue() async throws {
        try await TestServer.with(slots: 1) { server in
            let shown = try await server.post("/api/show", ["model": "x"])
            #expect(shown.object["capabilities"] as? [String] == ["completion", "tools"])
            let refused = try await server.post("/api/chat", ["model": "x", "messages": Self.question, "think": true, "stream": false])
            #expect(refused.status == 400)
            #expect(refused.body.contains("does not support thinking"), "\(refused.body)")
            let generate = try await server.post("/api/generate", ["model": "x", "prompt": "Hi", "think": true, "stream": false])
            #expect(generate.status == 400)
            let off = try await server.post("/api/chat", ["model": "x", "messages": Self.question, "think": false, "stream": false,
                                                          "options": ["num_predict": 4]])
            #expect(off.status == 200, "\(off.body)")
            #expect((off.object["message"] as? [String: Any])?["thinking"] == nil)
        }
    }
}
