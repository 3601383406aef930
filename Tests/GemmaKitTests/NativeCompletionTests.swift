import Foundation
import Testing
@testable import GemmaKit

/// The JSON objects of an SSE body's `data:` lines, and whether it ended with `[DONE]`. A `data:`
/// line that is neither `[DONE]` nor a JSON object fails the test.
func sseObjects(_ body: String, sourceLocation: SourceLocation = #_sourceLocation) -> (objects: [[String: Any]], done: Bool) {
    var objects: [[String: Any]] = [], done = false
    for line in body.split(separator: "\n") where line.hasPrefix("data: ") {
        let payload = line.dropFirst(6)
        if payload == "[DONE]" { done = true; continue }
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else {
            Issue.record("a data: line that is not a JSON object: \(payload)", sourceLocation: sourceLocation)
            continue
        }
        objects.append(object)
    }
    return (objects, done)
}

/// The JSON objects of a newline-delimited JSON body (Ollama's streams); a line that is not a JSON
/// object fails the test.
func ndjsonObjects(_ body: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
    body.split(separator: "\n").compactMap { line in
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            Issue.record("a line that is not a JSON object: \(line)", sourceLocation: sourceLocation)
            return nil
        }
        return object
    }
}

/// llama-server's native `/completion`, checked field by field against what the stock
/// llama-server (same llama.cpp commit, same model) answers.
@Suite("Native completion", .serialized)
struct NativeCompletionTests {
    static let france = "The capital of France is"

    @Test func aWholeAnswerHasLlamaServersFieldsAndProbabilities() async throws {
        try await TestServer.with { server in
            for path in ["/completion", "/completions"] {
                let reply = try await server.post(path, ["prompt": Self.france, "n_predict": 3, "temperature": 0, "n_probs": 2,
                                                         "return_tokens": true])
                #expect(reply.status == 200, "\(reply.body)")
                let answer = reply.object
                #expect(answer["choices"] == nil, "\(path) answers the native shape, not OpenAI's")
                // The stock llama-server's greedy answer on this model.
                #expect(answer["content"] as? String == " the capital of")
                #expect(answer["tokens"] as? [Int] == [506, 5279, 529])
                #expect(answer["index"] as? Int == 0)
                #expect((0..<2).contains(answer["id_slot"] as? Int ?? -1))
                #expect(answer["stop"] as? Bool == true)
                #expect(answer["model"] as? String == server.server.core.modelID)
                #expect(answer["tokens_predicted"] as? Int == 3)
                #expect(answer["tokens_evaluated"] as? Int == 6)
                #expect(answer["tokens_cached"] as? Int == 8)
                #expect(answer["prompt"] as? String == "<bos>The capital of France is")
                #expect(answer["stop_type"] as? String == "limit")
                #expect(answer["stopping_word"] as? String == "")
                #expect(answer["truncated"] as? Bool == false)
                #expect(answer["has_new_line"] as? Bool == false)
                let settings = try #require(answer["generation_settings"] as? [String: Any])
                #expect(settings["n_predict"] as? Int == 3)
                #expect(settings["n_probs"] as? Int == 2)
                #expect(settings["temperature"] as? Double == 0)
                #expect(settings["seed"] as? Int == Int(UInt32.max))
                let timings = try #require(answer["timings"] as? [String: Any])
                #expect(timings["predicted_n"] as? Int == 3)
                #expect((timings["prompt_n"] as? Int ?? 0) + (timings["cache_n"] as? Int ?? 0) == 6)
                for key in ["prompt_ms", "prompt_per_token_ms", "prompt_per_second", "predicted_ms", "predicted_per_token_ms",
                            "predicted_per_second"] {
                    #expect(timings[key] is Double, "timings.\(key)")
                }
                let probabilities = try #require(answer["completion_probabilities"] as? [[String: Any]])
                #expect(probabilities.map { $0["id"] as? Int } == [506, 5279, 529])
                #expect(probabilities.map { $0["token"] as? String } == [" the", " capital", " of"])
                #expect(probabilities[0]["bytes"] as? [Int] == [32, 116, 104, 101])
                let top = try #require(probabilities[0]["top_logprobs"] as? [[String: Any]])
                #expect(top.map { $0["id"] as? Int } == [506, 496])
                #expect(top.map { $0["token"] as? String } == [" the", " a"])
                // llama-server: -1.544 and -2.063 (its kernels differ a little from the batch's here).
                #expect(abs((top[0]["logprob"] as? Double ?? 0) + 1.544) < 0.2)
                #expect(abs((top[1]["logprob"] as? Double ?? 0) + 2.063) < 0.2)
                #expect(probabilities[0]["logprob"] as? Double == top[0]["logprob"] as? Double)
            }
            // Without return_tokens the whole answer's tokens are empty, as llama-server's.
            let plain = try await server.post("/completion", ["prompt": Self.france, "n_predict": 1, "temperature": 0])
            #expect(plain.object["tokens"] as? [Int] == [])
            #expect(plain.object["completion_probabilities"] == nil)
        }
    }

    @Test func aStreamSendsProgressTokensAndALastObjectWithoutDone() async throws {
        try await TestServer.with { server in
            let reply = try await server.post("/completion", [
                "prompt": Self.france, "n_predict": 3, "temperature": 0, "stream": true, "return_progress": true,
                "timings_per_token": true, "n_probs": 1, "cache_prompt": false,
            ])
            #expect(reply.status == 200, "\(reply.body)")
            #expect(reply.headers.first(name: "Content-Type") == "text/event-stream")
            let (objects, done) = sseObjects(reply.body)
            #expect(!done, "llama-server's native stream has no [DONE]")
            let progress = objects.compactMap { $0["prompt_progress"] as? [String: Any] }
            #expect(!progress.isEmpty)
            #expect(progress.allSatisfy { $0["total"] as? Int == 6 && $0["cache"] as? Int == 0 && $0["time_ms"] is Int })
            #expect(progress.last?["processed"] as? Int == 6)
            let tokens = objects.filter { $0["prompt_progress"] == nil && $0["stop"] as? Bool == false }
            #expect(tokens.map { $0["content"] as? String ?? "" }.joined() == " the capital of")
            #expect(tokens.flatMap { $0["tokens"] as? [Int] ?? [] } == [506, 5279, 529])
            #expect(tokens.last?["tokens_predicted"] as? Int == 3)
            #expect(tokens.allSatisfy { $0["id_slot"] as? Int == -1 && $0["tokens_evaluated"] as? Int == 6 && $0["timings"] is [String: Any] })
            #expect(tokens.allSatisfy { ($0["completion_probabilities"] as? [[String: Any]])?.count == 1 })
            let last = try #require(objects.last)
            #expect(last["stop"] as? Bool == true)
            #expect(last["content"] as? String == "")
            #expect(last["stop_type"] as? String == "limit")
            #expect(last["completion_probabilities"] == nil)
            #expect((last["timings"] as? [String: Any])?["prompt_n"] as? Int == 6, "cache_prompt false evaluates the whole prompt")
        }
    }

    /// llama-server's server-wide sampling flags (`--seed 42 --temp 0.8 -n 6`): what a request does not set
    /// comes from them, /props shows them, and so a seeded stream and a whole answer agree.
    @Test func serverWideSamplingDefaultsApplyToRequestsThatSetNothing() async throws {
        try await TestServer.with(slots: 1, configure: {
            $0.samplingDefaults = SamplingDefaults(sampling: SamplingParameters(temperature: 0.8, topK: 20, seed: 42), maxTokens: 6)
            $0.metricsEndpoint = false
        }) { server in
            let props = try await server.get("/props").object
            let params = (props["default_generation_settings"] as? [String: Any])?["params"] as? [String: Any] ?? [:]
            #expect(params["seed"] as? Int == 42 && params["temperature"] as? Double == 0.8 && params["top_k"] as? Int == 20)
            #expect(params["n_predict"] as? Int == 6 && params["max_tokens"] as? Int == 6)
            #expect(props["endpoint_metrics"] as? Bool == false)
            let whole = try await server.post("/completion", ["prompt": Self.france, "ignore_eos": true])
            #expect(whole.object["tokens_predicted"] as? Int == 6, "\(whole.body)")
            let settings = whole.object["generation_settings"] as? [String: Any] ?? [:]
            #expect(settings["seed"] as? Int == 42 && settings["temperature"] as? Double == 0.8 && settings["top_k"] as? Int == 20)
            let streamed = try await server.post("/completion", ["prompt": Self.france, "ignore_eos": true, "stream": true])
            let text = sseObjects(streamed.body).0.map { $0["content"] as? String ?? "" }.joined()
            #expect(text == whole.object["content"] as? String)
            // A request's own fields win.
            let own = try await server.post("/completion", ["prompt": Self.france, "n_predict": 2, "temperature": 0, "ignore_eos": true])
            #expect(own.object["tokens_predicted"] as? Int == 2)
            #expect((own.object["generation_settings"] as? [String: Any])?["temperature"] as? Double == 0)
            // --no-metrics: /metrics is llama-server's 501.
            let metrics = try await server.get("/metrics")
            #expect(metrics.status == 501 && metrics.errorMessage.contains("--metrics"))
        }
    }

    @Test func severalPromptsAndChoicesAnswerAnArrayInOrder() async throws {
        try await TestServer.with { server in
            // 9259 is "Hello": a string, ids, and ids mixed with text, as llama-server's tokenize_input_prompts reads them.
            let several = try await server.post("/completion", ["prompt": ["Hi", [2, 9259], [9259, "there"]], "n_predict": 1,
                                                                "temperature": 0, "return_tokens": true])
            #expect(several.status == 200, "\(several.body)")
            let answers = try #require(several.json as? [[String: Any]])
            #expect(answers.map { $0["index"] as? Int } == [0, 1, 2])
            #expect(answers.map { $0["prompt"] as? String } == ["<bos>Hi", "<bos>Hello", "Hellothere"])
            #expect(answers.map { $0["tokens_evaluated"] as? Int } == [2, 2, 2])
            #expect(answers.map { $0["content"] as? String } == [",", ",", "very"])

            // A mixed array holding ids is one prompt.
            let mixed = try await server.post("/completion", ["prompt": [2, "Hi"], "n_predict": 1, "temperature": 0])
            #expect(mixed.object["prompt"] as? String == "<bos>Hi")

            let choices = try await server.post("/completion", ["prompt": "Hi", "n_predict": 2, "n": 2, "ignore_eos": true])
            let pair = try #require(choices.json as? [[String: Any]], "\(choices.body)")
            #expect(pair.map { $0["index"] as? Int } == [0, 1])
            #expect(pair.allSatisfy { $0["tokens_predicted"] as? Int == 2 })

            // Streamed, the choices' chunks interleave, each tagged with its index and ending with its own last object.
            let streamed = try await server.post("/completion", ["prompt": "Hi", "n_predict": 2, "n": 2, "ignore_eos": true, "stream": true])
            let (objects, done) = sseObjects(streamed.body)
            #expect(!done)
            for index in [0, 1] {
                let mine = objects.filter { $0["index"] as? Int == index }
                #expect(mine.filter { $0["stop"] as? Bool == false }.flatMap { $0["tokens"] as? [Int] ?? [] }.count == 2, "\(streamed.body)")
                #expect(mine.last?["stop"] as? Bool == true)
                #expect(mine.last?["tokens_predicted"] as? Int == 2)
            }

            let tooMany = try await server.post("/completion", ["prompt": "Hi", "n_predict": 1, "n": 3])
            #expect(tooMany.status == 400)
            #expect(tooMany.errorMessage.contains("'n' must be between 1 and 2"))
        }
    }

    @Test func stopWordsEndOfGenerationAndIgnoreEOS() async throws {
        try await TestServer.with { server in
            let word = try await server.post("/completion", ["prompt": Self.france, "n_predict": 8, "temperature": 0, "stop": ["capital"]])
            #expect(word.object["content"] as? String == " the ")
            #expect(word.object["stop_type"] as? String == "word")
            #expect(word.object["stopping_word"] as? String == "capital")

            // The default model is a base model that rarely ends on its own: a bias makes the
            // end-of-sequence token (id 1) the first choice, and ignore_eos bans it again.
            let eos = try await server.post("/completion", ["prompt": Self.france, "n_predict": 16, "temperature": 0, "logit_bias": [[1, 100]]])
            #expect(eos.object["stop_type"] as? String == "eos", "\(eos.body)")
            #expect(eos.object["tokens_predicted"] as? Int == 1, "the end-of-sequence token counts, as in llama-server")
            #expect(eos.object["content"] as? String == "")
            let ignored = try await server.post("/completion", ["prompt": Self.france, "n_predict": 16, "temperature": 0,
                                                                "logit_bias": [[1, 100]], "ignore_eos": true])
            #expect(ignored.object["stop_type"] as? String == "limit")
            #expect(ignored.object["tokens_predicted"] as? Int == 16)
            #expect((ignored.object["generation_settings"] as? [String: Any])?["ignore_eos"] as? Bool == true)
        }
    }

    @Test func logitBiasTakesIdsAndTextInBothForms() async throws {
        try await TestServer.with { server in
            // Greedy, the first token is " the" (506); each form bans it.
            let forms: [Any] = [[[506, false]], ["506": -100], [[" the", false]], [" the": false]]
            for form in forms {
                let reply = try await server.post("/completion", ["prompt": Self.france, "n_predict": 1, "temperature": 0,
                                                                  "return_tokens": true, "logit_bias": form])
                #expect(reply.status == 200, "\(reply.body)")
                let tokens = try #require(reply.object["tokens"] as? [Int])
                #expect(tokens.count == 1 && tokens != [506], "\(form): \(reply.body)")
                let bias = (reply.object["generation_settings"] as? [String: Any])?["logit_bias"] as? [[String: Any]]
                #expect(bias?.first?["token"] as? Int == 506)
            }
            let favoured = try await server.post("/completion", ["prompt": Self.france, "n_predict": 1, "temperature": 0,
                                                                 "return_tokens": true, "logit_bias": [[3207, 50]]])
            #expect(favoured.object["tokens"] as? [Int] == [3207])
        }
    }

    @Test func slotsAndThePromptCache() async throws {
        try await TestServer.with { server in
            let prompt = "Write a short story about a lighthouse keeper who finds a message in a bottle."
            for slot in [1, 0, 1] {
                let reply = try await server.post("/completion", ["prompt": prompt, "n_predict": 1, "id_slot": slot])
                #expect(reply.object["id_slot"] as? Int == slot, "\(reply.body)")
            }
            // Slot 1 holds the prompt: it is reused, unless the request says not to.
            let cached = try await server.post("/completion", ["prompt": prompt, "n_predict": 1, "id_slot": 1])
            #expect(((cached.object["timings"] as? [String: Any])?["cache_n"] as? Int ?? 0) > 0)
            let fresh = try await server.post("/completion", ["prompt": prompt, "n_predict": 1, "id_slot": 1, "cache_prompt": false])
            let timings = try #require(fresh.object["timings"] as? [String: Any])
            #expect(timings["cache_n"] as? Int == 0)
            #expect(timings["prompt_n"] as? Int == fresh.object["tokens_evaluated"] as? Int)

            let unknown = try await server.post("/completion", ["prompt": prompt, "n_predict": 1, "id_slot": 5])
            #expect(unknown.status == 400)
            #expect(unknown.errorMessage.contains("'id_slot' must be between 0 and 1"))
            let any = try await server.post("/completion", ["prompt": prompt, "n_predict": 1, "id_slot": -1])
            #expect(any.status == 200)
        }
    }

    @Test func grammarsAndSchemasConstrainTheAnswer() async throws {
        try await TestServer.with { server in
            let yesNo = try await server.post("/completion", ["prompt": "Is the sky blue?", "n_predict": 4, "grammar": #"root ::= "yes" | "no""#])
            #expect(["yes", "no"].contains(yesNo.object["content"] as? String ?? ""), "\(yesNo.body)")
            #expect(yesNo.object["stop_type"] as? String == "eos")

            let schema: [String: Any] = ["type": "object", "properties": ["age": ["type": "integer"]], "required": ["age"],
                                         "additionalProperties": false]
            let json = try await server.post("/completion", ["prompt": "A person as JSON:", "n_predict": 40, "temperature": 0,
                                                             "json_schema": schema])
            let content = try #require(json.object["content"] as? String)
            let value = try #require(try JSONSerialization.jsonObject(with: Data(content.utf8)) as? [String: Any], "\(content)")
            #expect(value["age"] is Int)

            let bad = try await server.post("/completion", ["prompt": "Hi", "grammar": "root ::= foo"])
            #expect(bad.status == 400)
            #expect((bad.object["error"] as? [String: Any])?["param"] as? String == "grammar", "\(bad.body)")
        }
    }

    @Test func badInputIsA400NamingTheField() async throws {
        try await TestServer.with { server in
            let cases: [([String: Any], String)] = [
                (["prompt": "Hi", "n_predict": "x"], "n_predict"),
                (["prompt": ["a": 1]], "prompt"),
                (["prompt": []], "prompt"),
                (["prompt": [1.5]], "prompt"),
                (["prompt": [999_999_999]], "prompt"),
                (["prompt": "Hi", "n_probs": 50], "n_probs"),
                (["prompt": "Hi", "logit_bias": "x"], "logit_bias"),
                (["prompt": "Hi", "logit_bias": [[506, "x"]]], "logit_bias"),
                (["prompt": "Hi", "logit_bias": [[999_999_999, 1]]], "logit_bias"),
                (["prompt": "Hi", "id_slot": "0"], "id_slot"),
                (["prompt": "Hi", "n_predict": -2], "n_predict"),
                (["prompt": "Hi", "cache_prompt": 1], "cache_prompt"),
                (["prompt": "Hi", "json_schema": "x"], "json_schema"),
                (["n_predict": 1], "prompt"),
            ]
            for (body, field) in cases {
                let reply = try await server.post("/completion", body)
                #expect(reply.status == 400, "\(body): \(reply.body)")
                #expect((reply.object["error"] as? [String: Any])?["param"] as? String == field, "\(body): \(reply.body)")
            }
        }
    }

    @Test func aPromptOverTheContextIsLlamaServersError() async throws {
        try await TestServer.with(slots: 2, contextSize: 512) { server in
            let long = String(repeating: "hello ", count: 400)
            let replies = [
                try await server.post("/completion", ["prompt": long]),
                try await server.post("/v1/completions", ["prompt": long]),
                try await server.post("/v1/chat/completions", ["messages": [["role": "user", "content": long]], "stream": true]),
            ]
            for reply in replies {
                #expect(reply.status == 400, "\(reply.body)")
                let error = try #require(reply.object["error"] as? [String: Any])
                #expect(error["type"] as? String == "exceed_context_size_error")
                #expect(error["n_ctx"] as? Int == 256)
                #expect((error["n_prompt_tokens"] as? Int ?? 0) > 256)
                #expect((error["message"] as? String ?? "").contains("exceeds the available context size (256 tokens)"))
            }
        }
    }
}

/// llama-server's extensions on the OpenAI endpoints.
@Suite("OpenAI endpoints with llama-server's fields", .serialized)
struct OpenAIExtensionTests {
    static var messages: [[String: Any]] { [["role": "user", "content": "Name a colour."]] }

    @Test func nChoicesWholeAndStreamed() async throws {
        try await TestServer.with { server in
            let chat = try await server.post("/v1/chat/completions", ["messages": Self.messages, "max_tokens": 3, "n": 2, "ignore_eos": true])
            #expect(chat.status == 200, "\(chat.body)")
            let choices = try #require(chat.object["choices"] as? [[String: Any]])
            #expect(choices.map { $0["index"] as? Int } == [0, 1])
            #expect(choices.allSatisfy { ($0["message"] as? [String: Any])?["content"] is String })
            #expect((chat.object["usage"] as? [String: Any])?["completion_tokens"] as? Int == 6)
            #expect(chat.object["system_fingerprint"] as? String == SystemFingerprint.value)
            #expect((chat.object["timings"] as? [String: Any])?["predicted_n"] as? Int == 3)

            let text = try await server.post("/v1/completions", ["prompt": "Hi", "max_tokens": 2, "n": 2])
            #expect((text.object["choices"] as? [[String: Any]])?.map { $0["index"] as? Int } == [0, 1], "\(text.body)")
            #expect(text.object["system_fingerprint"] as? String == SystemFingerprint.value)

            let stream = try await server.post("/v1/chat/completions", ["messages": Self.messages, "max_tokens": 3, "n": 2, "stream": true, "ignore_eos": true,
                                                                         "stream_options": ["include_usage": true]])
            let (chunks, done) = sseObjects(stream.body)
            #expect(done)
            #expect(stream.body.components(separatedBy: "[DONE]").count == 2, "one [DONE] for all choices")
            let finishes = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }.filter { $0["finish_reason"] is String }
            #expect(Set(finishes.compactMap { $0["index"] as? Int }) == [0, 1])
            #expect(chunks.allSatisfy { $0["system_fingerprint"] as? String == SystemFingerprint.value })
            #expect((chunks.last?["usage"] as? [String: Any])?["completion_tokens"] as? Int == 6)

            for path in ["/v1/chat/completions", "/v1/completions"] {
                var body: [String: Any] = ["max_tokens": 1, "n": 3]
                if path.contains("chat") { body["messages"] = Self.messages } else { body["prompt"] = "Hi" }
                let tooMany = try await server.post(path, body)
                #expect(tooMany.status == 400)
                #expect((tooMany.object["error"] as? [String: Any])?["param"] as? String == "n")
            }
        }
    }

    @Test func chatTakesGrammarSchemaBiasProbabilitiesAndSlots() async throws {
        try await TestServer.with { server in
            let yesNo = try await server.post("/v1/chat/completions", ["messages": Self.messages, "max_tokens": 4,
                                                                        "grammar": #"root ::= "red" | "blue""#])
            let content = ((yesNo.object["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
            #expect(["red", "blue"].contains(content ?? ""), "\(yesNo.body)")

            let schema = try await server.post("/v1/chat/completions", [
                "messages": Self.messages, "max_tokens": 30, "temperature": 0,
                "json_schema": ["type": "object", "properties": ["colour": ["type": "string", "maxLength": 10]], "required": ["colour"]],
            ])
            let json = ((schema.object["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String ?? ""
            #expect((try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["colour"] is String, "\(json)")

            let objectWithSchema = try await server.post("/v1/chat/completions", [
                "messages": Self.messages, "max_tokens": 30, "temperature": 0,
                "response_format": ["type": "json_object", "schema": ["type": "object", "properties": ["n": ["type": "integer"]], "required": ["n"]]],
            ])
            let numberJSON = ((objectWithSchema.object["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String ?? ""
            #expect((try? JSONSerialization.jsonObject(with: Data(numberJSON.utf8)) as? [String: Any])?["n"] is Int, "\(numberJSON)")

            let bad = try await server.post("/v1/chat/completions", ["messages": Self.messages, "grammar": "root ::= nope"])
            #expect(bad.status == 400)
            #expect((bad.object["error"] as? [String: Any])?["param"] as? String == "grammar")

            // The greedy first token, then the same request with it banned.
            let first = try await server.post("/v1/chat/completions", ["messages": Self.messages, "max_tokens": 1, "temperature": 0, "n_probs": 2])
            let entry = try #require(((first.object["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            #expect(entry.count == 1)
            #expect((entry[0]["top_logprobs"] as? [Any])?.count == 2)
            let token = try #require(entry[0]["token"] as? String)
            let banned = try await server.post("/v1/chat/completions", ["messages": Self.messages, "max_tokens": 1, "temperature": 0,
                                                                         "logprobs": true, "logit_bias": [token: false]])
            let other = (((banned.object["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])?.first?["token"] as? String
            #expect(other != nil && other != token, "\(banned.body)")

            let pinned = try await server.post("/v1/chat/completions", ["messages": Self.messages, "max_tokens": 1, "id_slot": 9])
            #expect(pinned.status == 400)
            #expect((pinned.object["error"] as? [String: Any])?["param"] as? String == "id_slot")

            let both = try await server.post("/v1/chat/completions", ["messages": Self.messages, "add_generation_prompt": true,
                                                                       "continue_final_message": true])
            #expect(both.status == 400)
            #expect(both.errorMessage.contains("add_generation_prompt"))
            // add_generation_prompt defaults to true, as llama-server.
            let alone = try await server.post("/v1/chat/completions", ["messages": Self.messages, "continue_final_message": true])
            #expect(alone.status == 400)
            #expect((alone.object["error"] as? [String: Any])?["param"] as? String == "continue_final_message")
        }
    }

    @Test func streamsCarryTimingsAndProgressWhenAsked() async throws {
        try await TestServer.with { server in
            for path in ["/v1/chat/completions", "/v1/completions"] {
                var body: [String: Any] = ["max_tokens": 3, "temperature": 0, "stream": true, "timings_per_token": true,
                                           "return_progress": true, "ignore_eos": true, "cache_prompt": false]
                if path.contains("chat") { body["messages"] = Self.messages } else { body["prompt"] = "Hi" }
                let reply = try await server.post(path, body)
                #expect(reply.status == 200, "\(reply.body)")
                let (chunks, done) = sseObjects(reply.body)
                #expect(done)
                let progress = chunks.compactMap { $0["prompt_progress"] as? [String: Any] }
                #expect(!progress.isEmpty, "\(path)")
                #expect(progress.last?["processed"] as? Int == progress.last?["total"] as? Int)
                // The chat's role chunk carries no timings, as llama-server's.
                let content = chunks.filter { chunk in
                    let choice = (chunk["choices"] as? [[String: Any]])?.first
                    return chunk["prompt_progress"] == nil && choice != nil && (choice?["delta"] as? [String: Any])?["role"] == nil
                }
                #expect(!content.isEmpty && content.allSatisfy { $0["timings"] is [String: Any] }, "\(path)")
                let last = try #require(content.last)
                #expect((last["timings"] as? [String: Any])?["predicted_n"] as? Int == 3, "ignore_eos runs to max_tokens")
            }
            // Without the flags only the last chunk has timings.
            let plain = try await server.post("/v1/chat/completions", ["messages": Self.messages, "max_tokens": 3, "stream": true])
            let (chunks, _) = sseObjects(plain.body)
            #expect(chunks.filter { $0["timings"] != nil }.count == 1)
            #expect(chunks.allSatisfy { $0["prompt_progress"] == nil })
        }
    }
}

/// The engine's side of `id_slot`.
@Suite("Pinned slots", .serialized)
struct PinnedSlotTests {
    let model = TestModel.shared

    @Test func aPinnedRequestWaitsForItsSlotWhileAnotherIsFree() async throws {
        try await TestModel.engine(slots: 2).use { engine in
            var long = GenerationRequest(prompt: model.tokenize("Once upon a time"), sampling: .greedy, maxTokens: 400, slot: 0)
            long.sampling.ignoreEOS = true
            let (started, startedSlots) = AsyncStream<Int>.makeStream()
            let ticket = try engine.submit(long, to: GenerationSink(receive: { event in
                if case .started(let slot, _, _) = event { startedSlots.yield(slot) }
            }, finish: { _ in startedSlots.finish() }))
            var iterator = started.makeAsyncIterator()
            #expect(await iterator.next() == 0)

            let short = GenerationRequest(prompt: model.tokenize("Hello"), sampling: .greedy, maxTokens: 1, slot: 0)
            let shortEvents = try engine.generate(short)
            // Slot 1 is free, yet the pinned request stays queued while slot 0 generates.
            #expect(engine.queuedCount == 1)
            #expect(engine.slots[1].isProcessing == false)
            ticket.cancel()
            var shortSlot: Int?
            for try await event in shortEvents {
                if case .started(let slot, _, _) = event { shortSlot = slot }
            }
            #expect(shortSlot == 0)
        }
    }

    @Test func anUnknownSlotOrTokenIsRefusedAtSubmit() async throws {
        try await TestModel.engine(slots: 2).use { engine in
            #expect(throws: EngineError.self) { try engine.generate(GenerationRequest(prompt: [2, 9259], slot: 2)) }
            #expect(throws: EngineError.self) { try engine.generate(GenerationRequest(prompt: [2, -1])) }
            #expect(throws: EngineError.self) { try engine.generate(GenerationRequest(prompt: [2], sampling: SamplingParameters(grammar: "root ::= nope"))) }
        }
    }
}
