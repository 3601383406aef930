import Foundation
import Testing
@testable import GemmaKit

/// llama-server's slot actions, `llamacpp:*` metrics, Responses API, native embeddings and
/// tokenize pieces, on the real model over real HTTP, shapes checked field by field against
/// what the pinned llama-server answers.
@Suite struct LlamaServerCompatTests {
    /// A fresh --slot-save-path directory, removed after `body`.
    static func withSlotDirectory(_ body: (String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-slots-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await body(directory)
    }

    static var prompt: [String: Any] { ["prompt": "The capital of France is a city called", "max_tokens": 1, "temperature": 0] }

    static func cachedTokens(_ reply: TestServer.Reply) -> Int? {
        ((reply.object["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int
    }

    // MARK: Slots

    @Test func slotsHaveThePinnedLlamaServerShape() async throws {
        try await TestServer.with(slots: 2) { server in
            let unused = try #require(try await server.get("/slots").json as? [[String: Any]])
            #expect(unused.count == 2)
            for (index, slot) in unused.enumerated() {
                // A slot that never served a request: only these four fields, as llama-server.
                #expect(Set(slot.keys) == ["id", "n_ctx", "speculative", "is_processing"])
                #expect(slot["id"] as? Int == index)
                // Speculative decoding is on by default.
                #expect(slot["speculative"] as? Bool == true)
            }
            let answer = try await server.post("/v1/completions", busyRequest(3))
            #expect(answer.status == 200)
            let slots = try #require(try await server.get("/slots").json as? [[String: Any]])
            let used = try #require(slots.first { $0["id_task"] != nil })
            #expect(used["is_processing"] as? Bool == false)
            #expect(used["n_ctx"] as? Int == 2048)
            let promptTokens = try #require((answer.object["usage"] as? [String: Any])?["prompt_tokens"] as? Int)
            // The slot's cache: the prompt and the generated tokens fed back (the last is not).
            #expect(used["n_prompt_tokens"] as? Int == promptTokens + 2)
            // Its request's counts are cleared once it is idle, as llama-server's.
            #expect(used["n_prompt_tokens_processed"] as? Int == 0)
            #expect(used["n_prompt_tokens_cache"] as? Int == 0)
            let params = try #require(used["params"] as? [String: Any])
            #expect(params["n_predict"] as? Int == 3)
            #expect(params["temperature"] as? Double == 0)
            let next = try #require((used["next_token"] as? [[String: Any]])?.first)
            #expect(next["has_next_token"] as? Bool == false)
            #expect(next["has_new_line"] as? Bool == false)
            #expect(next["n_remain"] as? Int == -1)
            #expect(next["n_decoded"] as? Int == 0)
            // gemmactl's CLI reads it.
            guard case .slots(let parsed) = try SlotsSnapshot.parseSlots(Data(try await server.get("/slots").body.utf8)) else {
                Issue.record("not parsed as slots"); return
            }
            #expect(parsed.contains { $0.generatedTokens == 0 && $0.promptTokens == promptTokens + 2 })
            // Any value of fail_on_no_slot asks, as in llama-server; a slot is free.
            #expect(try await server.get("/slots?fail_on_no_slot=0").status == 200)
        }
    }

    @Test func slotActionsNeedASlotSavePath() async throws {
        try await TestServer.with(slots: 1) { server in
            let reply = try await server.post("/slots/0?action=save", ["filename": "a.bin"])
            #expect(reply.status == 501)
            let error = try #require(reply.object["error"] as? [String: Any])
            #expect(error["type"] as? String == "not_supported_error")
            #expect(reply.errorMessage.contains("--slot-save-path"))
        }
    }

    @Test func slotActionsRefuseBadInput() async throws {
        try await Self.withSlotDirectory { directory in
            try await TestServer.with(slots: 2, configure: { $0.engine.slotSavePath = directory }) { server in
                func expect400(_ path: String, _ body: String?, mentions: String, param: String? = nil,
                               sourceLocation: SourceLocation = #_sourceLocation) async throws {
                    let reply = try await server.request(.POST, path, body: body)
                    #expect(reply.status == 400, "\(path) \(body ?? "")", sourceLocation: sourceLocation)
                    #expect(reply.errorMessage.contains(mentions), "\(reply.errorMessage)", sourceLocation: sourceLocation)
                    if let param {
                        #expect((reply.object["error"] as? [String: Any])?["param"] as? String == param, sourceLocation: sourceLocation)
                    }
                }
                for name in ["../escape.bin", "sub/a.bin", "a\\\\b", "..", ".", "", " a", "a.", "a:b", "a\\u0001b"] {
                    try await expect400("/slots/0?action=save", #"{"filename":"\#(name)"}"#, mentions: "Invalid filename", param: "filename")
                    try await expect400("/slots/0?action=restore", #"{"filename":"\#(name)"}"#, mentions: "Invalid filename", param: "filename")
                }
                try await expect400("/slots/0?action=save", "{}", mentions: "'filename' is required", param: "filename")
                try await expect400("/slots/0?action=save", #"{"filename":5}"#, mentions: "'filename'", param: "filename")
                try await expect400("/slots/0?action=save", "not json", mentions: "not valid JSON")
                try await expect400("/slots/0?action=bogus", nil, mentions: "Invalid action", param: "action")
                try await expect400("/slots/0", nil, mentions: "Invalid action", param: "action")
                try await expect400("/slots/x?action=erase", nil, mentions: "Invalid slot ID", param: "id_slot")
                try await expect400("/slots/2?action=erase", nil, mentions: "Invalid slot ID")
                try await expect400("/slots/-1?action=erase", nil, mentions: "Invalid slot ID")
                try await expect400("/slots/0?action=restore", #"{"filename":"missing.bin"}"#, mentions: "no file named 'missing.bin'")
                // Another method on a slot's path is a 405, and requests count under the declared path.
                #expect(try await server.get("/slots/0").status == 405)
                #expect(try await server.get("/metrics").body.contains(#"gemmactl_requests_total{endpoint="/slots/:id_slot",status="400"}"#))
                // Not a saved slot (another model's, or anything else): refused, the slot left empty.
                try Data("not a llama.cpp state file".utf8).write(to: URL(fileURLWithPath: directory).appendingPathComponent("junk.bin"))
                try await expect400("/slots/0?action=restore", #"{"filename":"junk.bin"}"#, mentions: "is not a saved slot of this model")
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["junk.bin"], "nothing written")
            }
        }
    }

    @Test func savedSlotRestoresItsCacheAfterAnErase() async throws {
        try await Self.withSlotDirectory { directory in
            try await TestServer.with(slots: 1, configure: {
                $0.engine.slotSavePath = directory
                $0.engine.promptCache = .off  // only the slot itself may hold the prefix
            }) { server in
                let first = try await server.post("/v1/completions", Self.prompt)
                #expect(Self.cachedTokens(first) == 0)
                let promptTokens = try #require((first.object["usage"] as? [String: Any])?["prompt_tokens"] as? Int)

                let saved = try await server.post("/slots/0?action=save", ["filename": "conversation.bin"])
                #expect(saved.status == 200)
                #expect(saved.object["id_slot"] as? Int == 0)
                #expect(saved.object["filename"] as? String == "conversation.bin")
                let savedTokens = try #require(saved.object["n_saved"] as? Int)
                #expect(savedTokens == promptTokens)
                let file = directory + "/conversation.bin"
                let attributes = try FileManager.default.attributesOfItem(atPath: file)
                #expect(saved.object["n_written"] as? Int == attributes[.size] as? Int)
                #expect((attributes[.posixPermissions] as? Int) == 0o600)
                #expect((saved.object["timings"] as? [String: Any])?["save_ms"] is Double)
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["conversation.bin"], "no temporary file left")

                let erased = try await server.request(.POST, "/slots/0?action=erase")
                #expect(erased.status == 200)
                #expect(erased.object as NSDictionary == ["id_slot": 0, "n_erased": savedTokens] as NSDictionary)
                let slot = try #require((try await server.get("/slots").json as? [[String: Any]])?.first)
                #expect(slot["n_prompt_tokens"] as? Int == 0)
                // Erased: the same prompt is evaluated whole.
                #expect(Self.cachedTokens(try await server.post("/v1/completions", Self.prompt)) == 0)
                #expect(try await server.request(.POST, "/slots/0?action=erase").status == 200)

                let restored = try await server.post("/slots/0?action=restore", ["filename": "conversation.bin"])
                #expect(restored.status == 200)
                #expect(restored.object["id_slot"] as? Int == 0)
                #expect(restored.object["filename"] as? String == "conversation.bin")
                #expect(restored.object["n_restored"] as? Int == savedTokens)
                #expect(restored.object["n_read"] as? Int == attributes[.size] as? Int)
                #expect((restored.object["timings"] as? [String: Any])?["restore_ms"] is Double)
                // Restored: all but the last prompt token come from the cache.
                #expect(Self.cachedTokens(try await server.post("/v1/completions", Self.prompt)) == promptTokens - 1)
            }
        }
    }

    @Test func anActionOnABusySlotWaitsForItsRequest() async throws {
        try await Self.withSlotDirectory { directory in
            try await TestServer.with(slots: 1, configure: { $0.engine.slotSavePath = directory }) { server in
                let busy = Task { try await server.post("/v1/completions", busyRequest(40)) }
                try await eventually { (try await server.get("/slots").json as? [[String: Any]])?.first?["is_processing"] as? Bool == true }
                let saved = try await server.post("/slots/0?action=save", ["filename": "after.bin"])
                let answer = try await busy.value
                #expect(saved.status == 200)
                let usage = try #require(answer.object["usage"] as? [String: Any])
                let prompt = try #require(usage["prompt_tokens"] as? Int), generated = try #require(usage["completion_tokens"] as? Int)
                // Saved after the request ended: its whole sequence is in the file (the last token is
                // fed back only when another follows it, i.e. when the model itself stopped).
                let stopped = (answer.object["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "stop"
                #expect(saved.object["n_saved"] as? Int == prompt + generated - (stopped ? 0 : 1))
            }
        }
    }

    // MARK: Metrics

    @Test func metricsIncludeLlamaServersNamesAndHeader() async throws {
        try await TestServer.with(slots: 1) { server in
            let answer = try await server.post("/v1/completions", busyRequest(4))
            let usage = try #require(answer.object["usage"] as? [String: Any])
            let reply = try await server.get("/metrics")
            #expect(reply.status == 200)
            let start = try #require(reply.headers.first(name: "Process-Start-Time-Unix").flatMap { Int64($0) })
            #expect(start == server.server.core.metrics.processStart)
            let types = [
                "prompt_tokens_total": "counter", "prompt_tokens_cached_total": "counter", "prompt_seconds_total": "counter",
                "tokens_predicted_total": "counter", "tokens_predicted_seconds_total": "counter", "n_decode_total": "counter",
                "n_tokens_max": "counter", "spec_decode_num_draft_tokens_total": "counter",
                "spec_decode_num_accepted_tokens_total": "counter", "spec_decode_num_drafts_total": "counter",
                "prompt_tokens_seconds": "gauge", "predicted_tokens_seconds": "gauge", "requests_processing": "gauge",
                "requests_deferred": "gauge", "n_busy_slots_per_decode": "gauge",
            ]
            var values: [String: Double] = [:]
            for line in reply.body.split(separator: "\n") where line.hasPrefix("llamacpp:") {
                let parts = line.split(separator: " ")
                values[String(parts[0].dropFirst("llamacpp:".count))] = Double(parts[1])
            }
            #expect(Set(values.keys) == Set(types.keys))
            for (name, type) in types {
                #expect(reply.body.contains("# TYPE llamacpp:\(name) \(type)\n"), "\(name)")
                #expect(reply.body.contains("# HELP llamacpp:\(name) "), "\(name)")
            }
            #expect(values["prompt_tokens_total"] == Double(usage["prompt_tokens"] as? Int ?? -1))
            #expect(values["tokens_predicted_total"] == Double(usage["completion_tokens"] as? Int ?? -1))
            #expect(values["n_tokens_max"] == Double(usage["total_tokens"] as? Int ?? -1))
            #expect(values["requests_processing"] == 0)
            #expect(values["requests_deferred"] == 0)
            #expect(values["n_busy_slots_per_decode"] == 1)
            #expect((values["n_decode_total"] ?? 0) >= 4)
            #expect((values["predicted_tokens_seconds"] ?? 0) > 0)
            // The rate gauges cover the time since the last scrape, as llama-server's.
            let again = try await server.get("/metrics").body
            #expect(again.contains("llamacpp:predicted_tokens_seconds 0\n"))
            // gemmactl's own names stay.
            #expect(again.contains("gemmactl_generated_tokens_total 4"))
        }
    }

    // MARK: Responses API

    @Test func responsesAnswerWholeInLlamaServersShape() async throws {
        try await TestServer.with(slots: 1) { server in
            for path in ["/v1/responses", "/responses"] {
                let reply = try await server.post(path, ["input": "Say hi", "instructions": "Be brief.", "max_output_tokens": 5,
                                                         "temperature": 0])
                #expect(reply.status == 200)
                let object = reply.object
                #expect((object["id"] as? String)?.hasPrefix("resp_") == true)
                #expect(object["object"] as? String == "response")
                #expect(object["status"] as? String == "completed")
                #expect(object["model"] as? String == server.server.core.modelID)
                #expect(object["created_at"] is Int)
                #expect(object["completed_at"] is Int)
                let output = try #require(object["output"] as? [[String: Any]])
                #expect(output.count == 1)
                #expect(output[0]["type"] as? String == "message")
                #expect(output[0]["role"] as? String == "assistant")
                #expect(output[0]["status"] as? String == "completed")
                #expect((output[0]["id"] as? String)?.hasPrefix("msg_") == true)
                let part = try #require((output[0]["content"] as? [[String: Any]])?.first)
                #expect(part["type"] as? String == "output_text")
                #expect((part["annotations"] as? [Any])?.isEmpty == true)
                #expect(!(part["text"] as? String ?? "").isEmpty)
                let usage = try #require(object["usage"] as? [String: Any])
                let generated = try #require(usage["output_tokens"] as? Int)
                #expect((1...5).contains(generated))
                let input = try #require(usage["input_tokens"] as? Int)
                #expect(input > 0)
                #expect(usage["total_tokens"] as? Int == input + generated)
                #expect((usage["input_tokens_details"] as? [String: Any])?["cached_tokens"] is Int)
            }
            // Message items give the same prompt as the string with instructions.
            let plain = try await server.post("/v1/responses", ["input": "Say hi", "instructions": "Be brief.", "max_output_tokens": 3, "temperature": 0])
            let items = try await server.post("/v1/responses", [
                "input": [["role": "system", "content": "Be brief."],
                          ["type": "message", "role": "user", "content": [["type": "input_text", "text": "Say hi"]]]],
                "max_output_tokens": 3, "temperature": 0,
            ])
            #expect(items.status == 200)
            let itemsInput = (items.object["usage"] as? [String: Any])?["input_tokens"] as? Int
            #expect(itemsInput != nil && itemsInput == (plain.object["usage"] as? [String: Any])?["input_tokens"] as? Int)
        }
    }

    @Test func responsesStreamLlamaServersEventSequence() async throws {
        try await TestServer.with(slots: 1) { server in
            let reply = try await server.post("/v1/responses", ["input": "Count: 1, 2, 3,", "max_output_tokens": 6, "temperature": 0,
                                                                 "stream": true])
            #expect(reply.status == 200)
            #expect(reply.headers.first(name: "Content-Type") == "text/event-stream")
            var events: [(name: String, data: [String: Any])] = []
            for block in reply.body.components(separatedBy: "\n\n") where !block.isEmpty && !block.hasPrefix(":") {
                let lines = block.split(separator: "\n")
                let name = try #require(lines.first { $0.hasPrefix("event: ") }).dropFirst("event: ".count)
                let data = try #require(lines.first { $0.hasPrefix("data: ") }).dropFirst("data: ".count)
                let object = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
                #expect(object["type"] as? String == String(name))
                events.append((String(name), object))
            }
            let names = events.map(\.name).filter { $0 != "response.output_text.delta" }
            #expect(names == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                              "response.output_text.done", "response.content_part.done", "response.output_item.done",
                              "response.completed"])
            #expect(events.map { $0.data["sequence_number"] as? Int } == events.indices.map { $0 })
            let deltas = events.filter { $0.name == "response.output_text.delta" }.compactMap { $0.data["delta"] as? String }
            #expect(!deltas.isEmpty)
            let done = try #require(events.first { $0.name == "response.output_text.done" })
            #expect(done.data["text"] as? String == deltas.joined())
            let messageID = try #require((events[2].data["item"] as? [String: Any])?["id"] as? String)
            #expect(done.data["item_id"] as? String == messageID)
            let completed = try #require(events.last?.data["response"] as? [String: Any])
            #expect(completed["status"] as? String == "completed")
            #expect(((completed["usage"] as? [String: Any])?["output_tokens"] as? Int).map { (1...6).contains($0) } == true)
            let created = try #require(events[0].data["response"] as? [String: Any])
            #expect(created["id"] as? String == completed["id"] as? String)
            #expect(created["status"] as? String == "in_progress")
        }
    }

    @Test func responsesRefuseBadInputNamingTheField() async throws {
        try await TestServer.with(slots: 1) { server in
            let cases: [([String: Any], String, String)] = [
                (["max_output_tokens": 3], "'input' is required", "input"),
                (["input": "hi", "previous_response_id": "resp_1"], "does not support 'previous_response_id'", "previous_response_id"),
                (["input": 5], "'input'", "input"),
                (["input": [["type": "function_call", "name": "f"]]], "'input[0].type'", "input[0].type"),
                (["input": [["role": "robot", "content": "hi"]]], "'input[0].role'", "input[0].role"),
                (["input": [["role": "user", "content": [["type": "input_image", "image_url": "x"]]]]],
                 "'input[0].content[0].type'", "input[0].content[0].type"),
                (["input": [["role": "user", "content": [["type": "input_text"]]]]], "'input[0].content[0].text'", "input[0].content[0].text"),
                (["input": [["role": "user", "content": 3]]], "'input[0].content'", "input[0].content"),
                (["input": [Any]()], "at least one message", "input"),
                (["input": "hi", "max_output_tokens": -1], "'max_output_tokens'", "max_output_tokens"),
                (["input": "hi", "temperature": "hot"], "'temperature'", "temperature"),
            ]
            for (body, mentions, param) in cases {
                let reply = try await server.post("/v1/responses", body)
                #expect(reply.status == 400, "\(body)")
                #expect(reply.errorMessage.contains(mentions), "\(reply.errorMessage)")
                #expect((reply.object["error"] as? [String: Any])?["param"] as? String == param, "\(body)")
            }
        }
    }

    // MARK: Native embeddings and tokenize

    @Test func nativeEmbeddingsTakeLlamaServersInputForms() async throws {
        try await TestServer.with(slots: 1) { server in
            let width = try #require(server.server.core.host.loaded?.model.embeddingSize)
            func rows(_ reply: TestServer.Reply, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[[Double]]] {
                #expect(reply.status == 200, "\(reply.body.prefix(200))", sourceLocation: sourceLocation)
                let items = try #require(reply.json as? [[String: Any]], sourceLocation: sourceLocation)
                #expect(items.enumerated().allSatisfy { $0.element["index"] as? Int == $0.offset }, sourceLocation: sourceLocation)
                return try items.map { try #require($0["embedding"] as? [[Double]], sourceLocation: sourceLocation) }
            }
            let one = try rows(try await server.post("/embedding", ["content": "Hello world"]))
            #expect(one.count == 1 && one[0].count == 1 && one[0][0].count == width)
            let norm = one[0][0].reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-4)
            // The same input on /embeddings, and as `input`.
            #expect(try rows(try await server.post("/embeddings", ["input": "Hello world"])) == one)
            // Token ids as the tokenizer gives them (BOS included) embed the same.
            let tokens = try #require(try await server.post("/tokenize", ["content": "Hello world", "add_special": true]).object["tokens"] as? [Int])
            let byIDs = try rows(try await server.post("/embedding", ["content": tokens]))
            #expect(zip(byIDs[0][0], one[0][0]).allSatisfy { abs($0 - $1) < 1e-4 })
            // Several inputs: strings and token lists.
            let several = try rows(try await server.post("/embedding", ["content": ["Hello world", tokens, "Bye"]]))
            #expect(several.count == 3)
            #expect(zip(several[1][0], one[0][0]).allSatisfy { abs($0 - $1) < 1e-4 })
            // embd_normalize -1: as computed, not unit length.
            let raw = try rows(try await server.post("/embedding", ["content": "Hello world", "embd_normalize": -1]))
            #expect(abs(raw[0][0].reduce(0) { $0 + $1 * $1 }.squareRoot() - 1) > 1e-3)

            let bad: [([String: Any], String)] = [
                ([:], "\"input\" or \"content\" must be provided"),
                (["content": 5.5], "'content' must be a string"),
                (["content": [Any]()], "'content' must not be empty"),
                (["content": [1, 999_999_999]], "'content[1]' must be a token id"),
                (["content": ["ok", 3.5]], "'content[1]' must be a string or an array"),
                (["content": "hi", "embd_normalize": -2], "'embd_normalize'"),
            ]
            for (body, mentions) in bad {
                let reply = try await server.post("/embedding", body)
                #expect(reply.status == 400, "\(body)")
                #expect(reply.errorMessage.contains(mentions), "\(reply.errorMessage)")
            }
        }
    }

    @Test func embeddingsWithoutPoolingGiveOneRowPerToken() async throws {
        try await TestServer.with(slots: 1, configure: { $0.engine.embeddingPooling = .none }) { server in
            let tokens = try #require(try await server.post("/tokenize", ["content": "Hi there", "add_special": true]).object["tokens"] as? [Int])
            let reply = try await server.post("/embedding", ["content": "Hi there"])
            #expect(reply.status == 200)
            let rows = try #require((reply.json as? [[String: Any]])?.first?["embedding"] as? [[Double]])
            #expect(rows.count == tokens.count)
            // OpenAI's shape needs one vector per input: refused, as llama-server.
            let openAI = try await server.post("/v1/embeddings", ["input": "Hi there"])
            #expect(openAI.status == 400)
            #expect(openAI.errorMessage.contains("Pooling type 'none' is not OAI compatible"))
        }
    }

    @Test func tokenizePiecesAreTextOrBytes() async throws {
        try await TestServer.with(slots: 1) { server in
            let reply = try await server.post("/tokenize", ["content": "Hi 🦩𐍈", "with_pieces": true])
            let pieces = try #require(reply.object["tokens"] as? [[String: Any]])
            #expect(pieces.allSatisfy { $0["id"] is Int })
            // Characters the vocabulary lacks come as byte tokens: not valid UTF-8 alone, so byte arrays.
            let bytes = pieces.compactMap { $0["piece"] as? [Int] }
            #expect(!bytes.isEmpty)
            #expect(bytes.allSatisfy { $0.allSatisfy { (0...255).contains($0) } })
            var all: [UInt8] = []
            for piece in pieces {
                if let text = piece["piece"] as? String { all += Array(text.utf8) } else { all += (piece["piece"] as? [Int] ?? []).map(UInt8.init) }
            }
            #expect(String(decoding: all, as: UTF8.self) == "Hi 🦩𐍈")
            let ids = pieces.compactMap { $0["id"] as? Int }
            #expect(try await server.post("/detokenize", ["tokens": ids]).object["content"] as? String == "Hi 🦩𐍈")
        }
    }
}
