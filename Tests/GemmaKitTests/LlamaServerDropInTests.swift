import Foundation
import Testing
@testable import GemmaKit

/// Behaviours where a client could tell gemmactl from the pinned llama-server, each checked
/// against what that llama-server answers on the default model (`--no-jinja --chat-template gemma`).
@Suite("llama-server drop-in behaviours", .serialized)
struct LlamaServerDropInTests {
    static let chat = [["role": "user", "content": "Say hello"]]

    /// The events of an SSE body that names them (`event:` + `data:`), in order.
    static func namedEvents(_ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [(name: String, data: [String: Any])] {
        try body.components(separatedBy: "\n\n").filter { !$0.isEmpty && !$0.hasPrefix(":") }.map { block in
            let lines = block.split(separator: "\n")
            let name = try #require(lines.first { $0.hasPrefix("event: ") }, sourceLocation: sourceLocation).dropFirst("event: ".count)
            let data = try #require(lines.first { $0.hasPrefix("data: ") }, sourceLocation: sourceLocation).dropFirst("data: ".count)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any], sourceLocation: sourceLocation)
            return (String(name), object)
        }
    }

    @Test func twoAssistantMessagesAtTheEndAre400() async throws {
        try await TestServer.with(slots: 1) { server in
            let two: [[String: Any]] = Self.chat + [["role": "assistant", "content": "Hel"], ["role": "assistant", "content": "lo"]]
            for path in ["/v1/chat/completions", "/apply-template"] {
                let reply = try await server.post(path, ["messages": two, "max_tokens": 2])
                #expect(reply.status == 400, "\(path): \(reply.body)")
                #expect((reply.object["error"] as? [String: Any])?["param"] as? String == "messages")
            }
            let responses = try await server.post("/v1/responses", ["input": two, "max_output_tokens": 2])
            #expect(responses.status == 400, "\(responses.body)")
            #expect((responses.object["error"] as? [String: Any])?["param"] as? String == "input")
            // Assistant turns with a user turn after them, or one at the end, are fine.
            let between: [[String: Any]] = [["role": "assistant", "content": "Hi"], ["role": "assistant", "content": "there"]] + Self.chat
            #expect(try await server.post("/v1/chat/completions", ["messages": between, "max_tokens": 1]).status == 200)
            let one: [[String: Any]] = Self.chat + [["role": "assistant", "content": "Hello"]]
            #expect(try await server.post("/v1/chat/completions", ["messages": one, "max_tokens": 1]).status == 200)
        }
    }

    @Test func theRoleChunkHasNullContentAndComesWithTheFirstToken() async throws {
        try await TestServer.with(slots: 1) { server in
            let plain = try await server.post("/v1/chat/completions", ["messages": Self.chat, "max_tokens": 3, "temperature": 0, "stream": true])
            let chunks = sseObjects(plain.body).objects
            let deltas = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
            let role = try #require(deltas.first)
            #expect(role.keys.sorted() == ["content", "role"] && role["role"] as? String == "assistant" && role["content"] is NSNull, "\(role)")
            #expect(chunks.first?["timings"] == nil)
            #expect(deltas.dropFirst().first?["content"] is String)

            // With progress: the progress chunks name the role too; the role chunk still comes with the first token.
            let progressed = try await server.post("/v1/chat/completions", [
                "messages": Self.chat, "max_tokens": 3, "temperature": 0, "stream": true, "return_progress": true, "timings_per_token": true,
                "cache_prompt": false,
            ])
            let all = sseObjects(progressed.body).objects
            let progress = all.prefix { $0["prompt_progress"] != nil }
            #expect(progress.count >= 2, "\(progressed.body)")
            for chunk in progress {
                let delta = (chunk["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]
                #expect(delta?["role"] as? String == "assistant" && delta?["content"] is NSNull, "\(chunk)")
            }
            let afterProgress = all.dropFirst(progress.count)
            let firstDelta = (afterProgress.first?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]
            #expect(firstDelta?["role"] as? String == "assistant" && firstDelta?["content"] is NSNull, "\(progressed.body)")
            #expect(afterProgress.first?["timings"] == nil)
        }
    }

    @Test func ignoreEOSListsItsBansInLogitBias() async throws {
        try await TestServer.with(slots: 1) { server in
            let ignored = try await server.post("/completion", ["prompt": "Count: 1, 2,", "n_predict": 3, "temperature": 0,
                                                                "ignore_eos": true, "logit_bias": [[5, 1.5]]])
            let settings = try #require(ignored.object["generation_settings"] as? [String: Any], "\(ignored.body)")
            let bias = try #require(settings["logit_bias"] as? [[String: Any]])
            // llama-server lists the request's biases, then -infinity (null in JSON) on each end-of-generation token.
            #expect(bias.map { $0["token"] as? Int } == [5, 1, 106, 212], "\(bias)")
            #expect(bias.first?["bias"] as? Double == 1.5)
            #expect(bias.dropFirst().allSatisfy { $0["bias"] is NSNull })
            #expect(TestModel.shared.endOfGenerationTokens == [1, 106, 212])
            let plain = try await server.post("/completion", ["prompt": "Count: 1, 2,", "n_predict": 1, "logit_bias": [[5, 1.5]]])
            #expect(((plain.object["generation_settings"] as? [String: Any])?["logit_bias"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test func timingsCountTheFirstTokenAsLlamaServer() async throws {
        try await TestServer.with(slots: 1) { server in
            // Rates are over the decode steps after the first token, which came with the prompt.
            let eight = try await server.post("/completion", ["prompt": "Count: 1, 2,", "n_predict": 8, "temperature": 0, "ignore_eos": true])
            let timings = try #require(eight.object["timings"] as? [String: Any], "\(eight.body)")
            #expect(timings["predicted_n"] as? Int == 8)
            let milliseconds = try #require(timings["predicted_ms"] as? Double)
            #expect(milliseconds > 0)
            let perToken = try #require(timings["predicted_per_token_ms"] as? Double)
            let perSecond = try #require(timings["predicted_per_second"] as? Double)
            #expect(abs(perToken - milliseconds / 7) < 1e-6 * perToken, "\(timings)")
            #expect(abs(perSecond - 7_000 / milliseconds) < 1e-6 * perSecond, "\(timings)")

            // An end-of-generation token is sampled, so counted; alone it is no step.
            let ended = try await server.post("/completion", ["prompt": "The capital of France is", "n_predict": 16, "temperature": 0,
                                                              "logit_bias": [[1, 100]]])
            #expect(ended.object["stop_type"] as? String == "eos", "\(ended.body)")
            #expect(ended.object["tokens_predicted"] as? Int == 1)
            let endedTimings = try #require(ended.object["timings"] as? [String: Any])
            #expect(endedTimings["predicted_n"] as? Int == 1)
            #expect(endedTimings["predicted_per_second"] as? Double == 0)
            #expect(endedTimings["predicted_per_token_ms"] as? Double == 0)
            let chat = try await server.post("/v1/chat/completions", ["messages": Self.chat, "max_tokens": 16, "temperature": 0,
                                                                      "logit_bias": [[106, 100]]])
            #expect((chat.object["usage"] as? [String: Any])?["completion_tokens"] as? Int == 1, "\(chat.body)")

            // Streamed running timings: each progress chunk's prompt counts are the progress so far,
            // and the first token's chunk has no rate yet.
            let streamed = try await server.post("/completion", ["prompt": "Count: 1, 2,", "n_predict": 3, "temperature": 0, "stream": true,
                                                                 "return_progress": true, "timings_per_token": true, "cache_prompt": false])
            let chunks = sseObjects(streamed.body).objects
            let progress = chunks.filter { $0["prompt_progress"] != nil }
            #expect(progress.count >= 2, "\(streamed.body)")
            for chunk in progress {
                let report = try #require(chunk["prompt_progress"] as? [String: Any])
                let running = try #require(chunk["timings"] as? [String: Any])
                #expect(running["prompt_n"] as? Int == (report["processed"] as? Int ?? -1) - (report["cache"] as? Int ?? -1), "\(chunk)")
                #expect(running["prompt_ms"].flatMap { $0 as? Double }.map { Int($0) } == report["time_ms"] as? Int, "\(chunk)")
                #expect(running["predicted_n"] as? Int == 0)
            }
            let first = try #require(chunks.first { $0["prompt_progress"] == nil }?["timings"] as? [String: Any])
            #expect(first["predicted_n"] as? Int == 1)
            #expect(first["predicted_per_second"] as? Double == 0)
        }
    }

    @Test func aSlotsCountsAreClearedWhenItsRequestEnds() async throws {
        try await TestServer.with(slots: 1) { server in
            let answer = try await server.post("/completion", ["prompt": "Count: 1, 2,", "n_predict": 3, "temperature": 0, "ignore_eos": true])
            #expect(answer.status == 200)
            let slot = try #require((try await server.get("/slots").json as? [[String: Any]])?.first)
            #expect(slot["is_processing"] as? Bool == false)
            #expect(slot["n_prompt_tokens_processed"] as? Int == 0)
            #expect(slot["n_prompt_tokens_cache"] as? Int == 0)
            let next = try #require((slot["next_token"] as? [[String: Any]])?.first)
            #expect(next["n_decoded"] as? Int == 0)
            #expect(next["n_remain"] as? Int == -1)
            // The cache and the last request's parameters stay.
            #expect(slot["n_prompt_tokens"] as? Int == (answer.object["tokens_cached"] as? Int ?? -1))
            #expect((slot["params"] as? [String: Any])?["n_predict"] as? Int == 3)
        }
    }

    @Test func responsesStreamsReportProgressWhenAsked() async throws {
        try await TestServer.with(slots: 1) { server in
            let reply = try await server.post("/v1/responses", ["input": "Say hello", "max_output_tokens": 3, "temperature": 0, "stream": true,
                                                                 "return_progress": true, "cache_prompt": false])
            #expect(reply.status == 200, "\(reply.body)")
            let events = try Self.namedEvents(reply.body)
            let names = events.map(\.name)
            // As llama-server: created, then an in_progress event per progress report, then the message.
            #expect(names.first == "response.created", "\(names)")
            let reports = events.dropFirst().prefix { $0.name == "response.in_progress" }
            #expect(reports.count >= 2, "\(names)")
            let progress = reports.compactMap { $0.data["prompt_progress"] as? [String: Any] }
            #expect(progress.count == reports.count, "every in_progress carries prompt_progress: \(reply.body)")
            #expect(progress.first?["processed"] as? Int == 0)
            #expect(progress.last?["processed"] as? Int == progress.last?["total"] as? Int)
            #expect(Array(names.dropFirst(1 + reports.count).prefix(3))
                    == ["response.output_item.added", "response.content_part.added", "response.output_text.delta"], "\(names)")
            #expect(names.last == "response.completed")
            #expect(events.map { $0.data["sequence_number"] as? Int } == events.indices.map { $0 })
            // Not asked: no progress.
            let plain = try await server.post("/v1/responses", ["input": "Say hello", "max_output_tokens": 3, "temperature": 0, "stream": true])
            let plainEvents = try Self.namedEvents(plain.body)
            #expect(plainEvents.allSatisfy { $0.data["prompt_progress"] == nil })
            #expect(plainEvents.filter { $0.name == "response.in_progress" }.count == 1)
        }
    }

    /// llama-server's `__verbose`: its native answer for the whole answer, every streamed
    /// completion chunk and a streamed chat's last chunk.
    static let nativeFinalKeys: Set<String> = [
        "index", "content", "tokens", "id_slot", "stop", "model", "tokens_predicted", "tokens_evaluated", "generation_settings",
        "prompt", "has_new_line", "truncated", "stop_type", "stopping_word", "tokens_cached", "timings",
    ]
    static let nativePartialKeys: Set<String> = ["index", "content", "tokens", "stop", "id_slot", "tokens_predicted", "tokens_evaluated"]

    /// The keys of a JSON object (none for anything else).
    static func keys(_ value: Any?) -> Set<String> { Set((value as? [String: Any]).map { Array($0.keys) } ?? []) }

    @Test func verboseAnswersCarryTheNativeAnswer() async throws {
        try await TestServer.with(slots: 1) { server in
            let chat = try await server.post("/v1/chat/completions", ["messages": Self.chat, "max_tokens": 3, "temperature": 0, "verbose": true])
            let verbose = try #require(chat.object["__verbose"] as? [String: Any], "\(chat.body)")
            #expect(Self.keys(verbose) == Self.nativeFinalKeys)
            let message = (chat.object["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any]
            #expect(verbose["content"] as? String == message?["content"] as? String)
            #expect((verbose["prompt"] as? String)?.hasPrefix("<bos><start_of_turn>user\nSay hello") == true, "\(verbose)")

            let completion = try await server.post("/v1/completions", ["prompt": "Count: 1, 2,", "max_tokens": 3, "temperature": 0, "verbose": true])
            #expect(Self.keys(completion.object["__verbose"]) == Self.nativeFinalKeys, "\(completion.body)")

            let streamed = try await server.post("/v1/completions", ["prompt": "Count: 1, 2,", "max_tokens": 3, "temperature": 0,
                                                                     "stream": true, "verbose": true])
            let chunks = sseObjects(streamed.body).objects.filter { !(($0["choices"] as? [Any])?.isEmpty ?? true) }
            let partials = chunks.dropLast().compactMap { $0["__verbose"] as? [String: Any] }
            #expect(partials.count == chunks.count - 1 && !partials.isEmpty, "\(streamed.body)")
            #expect(partials.allSatisfy { Self.keys($0) == Self.nativePartialKeys }, "\(partials)")
            #expect(Self.keys(chunks.last?["__verbose"]) == Self.nativeFinalKeys)

            let chatStream = try await server.post("/v1/chat/completions", ["messages": Self.chat, "max_tokens": 3, "temperature": 0,
                                                                            "stream": true, "verbose": true])
            let chatChunks = sseObjects(chatStream.body).objects
            #expect(chatChunks.filter { $0["__verbose"] != nil }.count == 1, "\(chatStream.body)")
            let finish = try #require(chatChunks.first { (($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String) != nil })
            #expect(Self.keys(finish["__verbose"]) == Self.nativeFinalKeys)

            let quiet = try await server.post("/v1/chat/completions", ["messages": Self.chat, "max_tokens": 1])
            #expect(quiet.object["__verbose"] == nil)
        }
        // `-v` asks for it on every request; a request's `verbose: false` still leaves it out.
        try await TestServer.with(slots: 1, configure: { $0.verboseAnswers = true }) { server in
            let answer = try await server.post("/v1/completions", ["prompt": "Hi", "max_tokens": 1])
            #expect(answer.object["__verbose"] is [String: Any], "\(answer.body)")
            let quiet = try await server.post("/v1/completions", ["prompt": "Hi", "max_tokens": 1, "verbose": false])
            #expect(quiet.object["__verbose"] == nil)
        }
    }
}
