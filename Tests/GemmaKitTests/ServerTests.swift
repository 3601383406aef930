import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import GemmaKit

@Suite("gemmactl serve over real HTTP", .serialized)
struct ServerTests {
    // MARK: Auth

    @Test func authIsRequiredEverywhereButHealth() async throws {
        try await TestServer.with(keys: ["right-key", "second-key"]) { server in
            let health = try await server.get("/health", key: nil)
            #expect(health.status == 200)
            #expect(health.object["status"] as? String == "ok")

            for key in [nil, "wrong-key"] as [String?] {
                let reply = try await server.get("/v1/models", key: key)
                #expect(reply.status == 401)
                #expect(reply.headers["WWW-Authenticate"].first == "Bearer")
                let error = try #require(reply.object["error"] as? [String: Any])
                #expect(error["message"] as? String == "Invalid API Key")
                #expect(error["type"] as? String == "authentication_error")
                #expect(error["code"] as? Int == 401)
                #expect(!reply.body.contains("right-key"))
            }
            #expect(try await server.get("/v1/models", key: "right-key").status == 200)
            #expect(try await server.get("/v1/models", key: "second-key").status == 200)
            let viaHeader = try await server.request(.GET, "/v1/models", key: nil, headers: [("x-api-key", "right-key")])
            #expect(viaHeader.status == 200)
            #expect(try await server.get("/slots", key: nil).status == 401)
            #expect(try await server.get("/metrics", key: nil).status == 401)
        }
    }

    @Test func keysFileChangesApplyWithoutRestart() async throws {
        let directory = TemporaryDirectory()
        let file = directory.file("keys")
        try "# rotated by hand\nold-key\n".write(to: file, atomically: true, encoding: .utf8)
        try await TestServer.with(keys: [], keyFile: file.path) { server in
            #expect(try await server.get("/v1/models", key: "old-key").status == 200)
            #expect(try await server.get("/v1/models", key: "new-key").status == 401)

            // Add a key (atomic rename over the file): both work.
            try "old-key\nnew-key\n".write(to: file, atomically: true, encoding: .utf8)
            try await eventually { try await server.get("/v1/models", key: "new-key").status == 200 }
            #expect(try await server.get("/v1/models", key: "old-key").status == 200)

            // Remove the old one: it stops working.
            try "new-key\n".write(to: file, atomically: true, encoding: .utf8)
            try await eventually { try await server.get("/v1/models", key: "old-key").status == 401 }
            #expect(try await server.get("/v1/models", key: "new-key").status == 200)

            // An empty file keeps the last good keys: once the server has handled the change.
            let keys = server.server.core.keys
            let handled = keys.changesHandled
            try "# nothing\n".write(to: file, atomically: true, encoding: .utf8)
            try await eventually { keys.changesHandled > handled }
            #expect(try await server.get("/v1/models", key: "new-key").status == 200)
        }
    }

    @Test func rotationGraceDeadlineEndsTheOldKey() async throws {
        let directory = TemporaryDirectory()
        let file = directory.file("keys")
        try KeysFile(text: "old-key\n").text.write(to: file, atomically: true, encoding: .utf8)
        try await TestServer.with(keys: [], keyFile: file.path) { server in
            // What `gemmactl rotate-key --grace 2s` writes: the new key, the old one with a deadline.
            let rotated = KeysFile(text: try String(contentsOf: file, encoding: .utf8)).adding("new-key", grace: .seconds(2))
            try rotated.text.write(to: file, atomically: true, encoding: .utf8)
            try await eventually { try await server.get("/v1/models", key: "new-key").status == 200 }
            #expect(try await server.get("/v1/models", key: "old-key").status == 200)
            // Past the deadline the old key is refused, with no change to the file.
            try await eventually(timeout: .seconds(10)) { try await server.get("/v1/models", key: "old-key").status == 401 }
            #expect(try await server.get("/v1/models", key: "new-key").status == 200)
        }
    }

    @Test func kubernetesSecretVolumeSymlinkSwapIsPickedUp() async throws {
        // A Secret volume: keys -> ..data/keys, ..data -> ..2026_1 ; an update swaps ..data.
        let directory = TemporaryDirectory()
        let fm = FileManager.default
        try fm.createDirectory(at: directory.file("..2026_1"), withIntermediateDirectories: true)
        try "first-key\n".write(to: directory.file("..2026_1/keys"), atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: directory.file("..data").path, withDestinationPath: "..2026_1")
        try fm.createSymbolicLink(atPath: directory.file("keys").path, withDestinationPath: "..data/keys")
        try await TestServer.with(keys: [], keyFile: directory.file("keys").path) { server in
            #expect(try await server.get("/v1/models", key: "first-key").status == 200)

            try fm.createDirectory(at: directory.file("..2026_2"), withIntermediateDirectories: true)
            try "second-key\n".write(to: directory.file("..2026_2/keys"), atomically: true, encoding: .utf8)
            try fm.createSymbolicLink(atPath: directory.file("..data_tmp").path, withDestinationPath: "..2026_2")
            _ = rename(directory.file("..data_tmp").path, directory.file("..data").path)
            try await eventually { try await server.get("/v1/models", key: "second-key").status == 200 }
            #expect(try await server.get("/v1/models", key: "first-key").status == 401)
        }
    }

    // MARK: OpenAI API

    @Test func chatCompletionNonStreaming() async throws {
        try await TestServer.with { server in
            let reply = try await server.post("/v1/chat/completions", [
                "model": "anything", "messages": [["role": "system", "content": "Be brief."],
                                                  ["role": "user", "content": [["type": "text", "text": "Name a colour."]]]],
                "max_tokens": 8, "temperature": 0, "unknown_field": true,
            ])
            #expect(reply.status == 200, "\(reply.body)")
            let object = reply.object
            #expect(object["object"] as? String == "chat.completion")
            #expect((object["id"] as? String)?.hasPrefix("chatcmpl-") == true)
            #expect(object["model"] as? String == "gemma-3-270m-q4_k_m")
            #expect(object["created"] is Int)
            let choice = try #require((object["choices"] as? [[String: Any]])?.first)
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["role"] as? String == "assistant")
            #expect(!(message["content"] as? String ?? "").isEmpty)
            #expect(["stop", "length"].contains(choice["finish_reason"] as? String ?? ""))
            let usage = try #require(object["usage"] as? [String: Any])
            let prompt = usage["prompt_tokens"] as? Int ?? 0, completion = usage["completion_tokens"] as? Int ?? 0
            #expect(prompt > 5)
            #expect(completion > 0 && completion <= 8)
            #expect(usage["total_tokens"] as? Int == prompt + completion)
        }
    }

    @Test func chatCompletionStreamingFramesSSEExactly() async throws {
        try await TestServer.with { server in
            let reply = try await server.post("/v1/chat/completions", [
                "messages": [["role": "user", "content": "Count to five."]], "max_tokens": 6, "temperature": 0,
                "stream": true, "stream_options": ["include_usage": true],
            ])
            #expect(reply.status == 200)
            #expect(reply.headers["Content-Type"].first == "text/event-stream")
            #expect(reply.headers["Cache-Control"].first == "no-cache")
            #expect(reply.headers["X-Accel-Buffering"].first == "no")
            #expect(reply.body.hasSuffix("data: [DONE]\n\n"))
            let events = reply.body.components(separatedBy: "\n\n").dropLast()
            #expect(events.allSatisfy { $0.hasPrefix("data: ") && !$0.contains("\n") })
            let chunks = try events.dropLast().map { event in
                try #require(try JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8)) as? [String: Any])
            }
            #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
            #expect(Set(chunks.compactMap { $0["id"] as? String }).count == 1)
            let first = try #require((chunks.first?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])
            #expect(first["role"] as? String == "assistant")
            // As llama-server's first chunk: the role, and content null (not "").
            #expect(first.keys.sorted() == ["content", "role"] && first["content"] is NSNull, "\(first)")
            let usageChunk = try #require(chunks.last)
            #expect((usageChunk["choices"] as? [Any])?.isEmpty == true)
            let usage = try #require(usageChunk["usage"] as? [String: Any])
            #expect(usage["completion_tokens"] as? Int == 6)
            let finish = chunks.dropLast().last.flatMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
            #expect(finish == "length")
            let text = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }.joined()
            #expect(!text.isEmpty)
        }
    }

    @Test func completionsStreamAndNot() async throws {
        try await TestServer.with { server in
            let plain = try await server.post("/v1/completions", ["prompt": "The sky is", "max_tokens": 5, "temperature": 0])
            #expect(plain.status == 200)
            #expect(plain.object["object"] as? String == "text_completion")
            let text = try #require((plain.object["choices"] as? [[String: Any]])?.first?["text"] as? String)
            #expect(!text.isEmpty)
            let streamed = try await server.post("/v1/completions", ["prompt": "The sky is", "max_tokens": 5, "temperature": 0, "stream": true])
            #expect(streamed.body.hasSuffix("data: [DONE]\n\n"))
            let pieces = streamed.body.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: {") }.compactMap { event in
                ((try? JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8))) as? [String: Any])
                    .flatMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }
            }
            #expect(pieces.joined() == text, "streamed and non-streamed greedy text agree")
        }
    }

    @Test func modelsListsTheServedModel() async throws {
        try await TestServer.with(configure: { $0.aliases = ["gemma-small"] }) { server in
            for path in ["/v1/models", "/models"] {
                let reply = try await server.get(path)
                let data = try #require(reply.object["data"] as? [[String: Any]])
                #expect(data.count == 1)
                #expect(data.first?["id"] as? String == "gemma-small")
                #expect(data.first?["object"] as? String == "model")
            }
        }
    }

    @Test func embeddingsAreNormalisedAndStable() async throws {
        try await TestServer.with { server in
            let reply = try await server.post("/v1/embeddings", ["input": ["hello world", "a different sentence", "hello world"]])
            #expect(reply.status == 200, "\(reply.body)")
            let data = try #require(reply.object["data"] as? [[String: Any]])
            let vectors = data.compactMap { $0["embedding"] as? [Double] }
            #expect(vectors.count == 3)
            #expect(vectors.allSatisfy { $0.count == 640 })
            for vector in vectors { #expect(abs(vector.reduce(0) { $0 + $1 * $1 }.squareRoot() - 1) < 1e-3) }
            #expect(vectors[0] == vectors[2])
            #expect(vectors[0] != vectors[1])
            #expect((reply.object["usage"] as? [String: Any])?["prompt_tokens"] as? Int ?? 0 > 0)
        }
    }

    @Test func tokenizeAndDetokenizeRoundTrip() async throws {
        try await TestServer.with { server in
            let tokens = try #require(try await server.post("/tokenize", ["content": "Hello, world 🦙"]).object["tokens"] as? [Int])
            #expect(!tokens.isEmpty)
            let text = try await server.post("/detokenize", ["tokens": tokens]).object["content"] as? String
            #expect(text == "Hello, world 🦙")
            let pieces = try #require(try await server.post("/tokenize", ["content": "Hi", "with_pieces": true]).object["tokens"] as? [[String: Any]])
            #expect(pieces.compactMap { $0["piece"] as? String }.joined() == "Hi")
            let bad = try await server.post("/detokenize", ["tokens": [-5]])
            #expect(bad.status == 400)
            #expect(bad.errorMessage.contains("tokens[0]"))
        }
    }

    @Test func chatLogprobsAndJSONMode() async throws {
        try await TestServer.with { server in
            let reply = try await server.post("/v1/chat/completions", [
                "messages": [["role": "user", "content": "Hi"]], "max_tokens": 3, "temperature": 0,
                "logprobs": true, "top_logprobs": 2,
            ])
            let choice = try #require((reply.object["choices"] as? [[String: Any]])?.first)
            let content = try #require((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            #expect(content.count == 3)
            #expect(content.allSatisfy { ($0["top_logprobs"] as? [Any])?.count == 2 && ($0["logprob"] as? Double ?? 1) <= 0 })

            let json = try await server.post("/v1/chat/completions", [
                "messages": [["role": "user", "content": "Describe a cat as JSON."]], "max_tokens": 60, "temperature": 0,
                "response_format": ["type": "json_object"],
            ])
            let jsonChoice = try #require((json.object["choices"] as? [[String: Any]])?.first)
            let text = try #require((jsonChoice["message"] as? [String: Any])?["content"] as? String)
            #expect(text.hasPrefix("{"))
            #expect(JSONPrefix.isValid(text), "not the start of a JSON object: \(text)")
            if jsonChoice["finish_reason"] as? String == "stop" {
                #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any], "not JSON: \(text)")
            }
            let badFormat = try await server.post("/v1/chat/completions", [
                "messages": [["role": "user", "content": "Hi"]], "response_format": ["type": "xml"],
            ])
            #expect(badFormat.status == 400)
            #expect(badFormat.errorMessage.contains("response_format.type"))
        }
    }

    @Test func requestTimeoutEndsSlowRequests() async throws {
        try await TestServer.with(slots: 1, configure: { $0.requestTimeout = .milliseconds(400) }) { server in
            let slow = try await server.post("/v1/completions", busyRequest(2000))
            #expect(slow.status == 504)
            #expect(slow.errorMessage.contains("--request-timeout"))
            // The slot is free again for the next request.
            try await eventually { (try await server.get("/slots").json as? [[String: Any]])?.first?["is_processing"] as? Bool == false }
            let streamed = try await server.post("/v1/completions", busyRequest(2000).merging(["stream": true]) { $1 })
            #expect(streamed.body.contains("--request-timeout"))
        }
    }

    // MARK: Health, slots, metrics

    @Test func healthReportsLoadingThenReady() async throws {
        let (gate, open) = AsyncStream<Void>.makeStream()
        try await TestServer.with(beforeLoad: {
            for await _ in gate { return }
        }, waitUntilReady: false) { server in
            let loading = try await server.get("/health", key: nil)
            #expect(loading.status == 503)
            let error = try #require(loading.object["error"] as? [String: Any])
            #expect(error["code"] as? Int == 503)
            #expect(error["message"] as? String == "Loading model")
            #expect(error["type"] as? String == "unavailable_error")
            #expect(try await server.get("/v1/health", key: nil).status == 503)
            #expect(try await server.post("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]]]).status == 503)
            open.yield()
            try await eventually { try await server.get("/health", key: nil).status == 200 }
        }
    }

    @Test func slotsFailOnNoSlotWhenAllAreBusy() async throws {
        try await TestServer.with(slots: 1) { server in
            let busy = Task { try await server.post("/v1/completions", busyRequest(400)) }
            defer { busy.cancel() }
            try await eventually { (try await server.get("/slots").json as? [[String: Any]])?.first?["is_processing"] as? Bool == true }
            let reply = try await server.get("/slots?fail_on_no_slot=1")
            #expect(reply.status == 503)
        }
    }

    @Test func readyIsPublicAndOnlyAStatus() async throws {
        let (gate, open) = AsyncStream<Void>.makeStream()
        try await TestServer.with(slots: 1, beforeLoad: {
            for await _ in gate { return }
        }, waitUntilReady: false) { server in
            func expectReady(_ status: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let get = try await server.get("/ready", key: nil)
                #expect(get.status == status, sourceLocation: sourceLocation)
                #expect(get.body == (status == 200 ? #"{"status":"ready"}"# : #"{"status":"unavailable"}"#), sourceLocation: sourceLocation)
                #expect(get.headers["Cache-Control"].first == "no-store", sourceLocation: sourceLocation)
                let head = try await server.request(.HEAD, "/ready", key: nil)
                #expect(head.status == status, sourceLocation: sourceLocation)
                #expect(head.body.isEmpty, sourceLocation: sourceLocation)
            }

            try await expectReady(503)  // still loading
            open.yield()
            try await eventually { try await server.get("/health", key: nil).status == 200 }
            try await expectReady(200)  // loaded, the one slot free

            // A long stream holds the one slot until the reader lets go (closing the connection frees it).
            var request = HTTPClientRequest(url: server.base + "/v1/completions")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer test-key")
            request.body = .bytes(ByteBuffer(string: #"{"prompt":"1, 2, 3, 4,","max_tokens":2000,"temperature":0,"stream":true}"#))
            let (firstChunk, sawFirstChunk) = AsyncStream<Void>.makeStream()
            let (letGo, release) = AsyncStream<Void>.makeStream()
            let reader = Task {
                let response = try await TestServer.client.execute(request, timeout: .seconds(120))
                for try await _ in response.body {
                    sawFirstChunk.finish()
                    for await _ in letGo {}
                    break
                }
            }
            defer { reader.cancel() }
            for await _ in firstChunk {}
            try await eventually { (try await server.get("/slots").json as? [[String: Any]])?.first?["is_processing"] as? Bool == true }
            try await expectReady(503)  // every slot busy
            release.finish()
            try await reader.value
            try await eventually(timeout: .seconds(30)) { try await server.get("/ready", key: nil).status == 200 }
            try await expectReady(200)
            #expect(try await server.request(.POST, "/ready", key: nil).status == 405)
        }
    }

    @Test func metricsAreValidPrometheusText() async throws {
        try await TestServer.with { server in
            _ = try await server.post("/v1/completions", ["prompt": "Hi", "max_tokens": 3])
            let reply = try await server.get("/metrics")
            #expect(reply.status == 200)
            #expect(reply.headers["Content-Type"].first?.hasPrefix("text/plain") == true)
            let sample = #/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+\-]+(Inf|NaN)?$/#
            for line in reply.body.split(separator: "\n") where !line.hasPrefix("#") {
                #expect(String(line).wholeMatch(of: sample) != nil, "not a Prometheus sample: \(line)")
            }
            for name in ["gemmactl_generated_tokens_total", "gemmactl_prompt_tokens_total", "gemmactl_requests_total",
                         "gemmactl_slots_busy", "gemmactl_requests_queued", "gemmactl_kv_cache_usage_ratio",
                         "gemmactl_model_load_seconds", "gemmactl_generation_tokens_per_second",
                         "gemmactl_decode_calls_total", "gemmactl_decode_tokens_total", "gemmactl_busy_slots_per_decode"] {
                #expect(reply.body.contains(name), "missing \(name)")
            }
            #expect(reply.body.contains("gemmactl_generated_tokens_total 3"))
            // The prompt took one decode and the second and third tokens one each.
            #expect(reply.body.contains("gemmactl_decode_calls_total 3"))
            #expect(reply.body.contains("gemmactl_busy_slots_per_decode 1"))
        }
    }

    @Test func metricsPortServesWithoutAuth() async throws {
        try await TestServer.with(configure: { $0.metricsPort = 0 }) { server in
            let metricsPort = try #require(server.metricsAddress?.port)
            #expect(metricsPort != server.port)
            let response = try await TestServer.client.execute(HTTPClientRequest(url: "http://\(server.host):\(metricsPort)/metrics"), timeout: .seconds(10))
            #expect(response.status == .ok)
            let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
            #expect(body.contains("gemmactl_model_ready 1"))
        }
    }

    // MARK: Ollama

    @Test func ollamaGenerateAndChat() async throws {
        try await TestServer.with { server in
            let streamed = try await server.post("/api/generate", ["model": "x", "prompt": "Hello", "options": ["num_predict": 4, "temperature": 0]])
            #expect(streamed.headers["Content-Type"].first == "application/x-ndjson")
            let lines = try streamed.body.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            #expect(lines.count >= 2)
            #expect(lines.dropLast().allSatisfy { $0["done"] as? Bool == false && $0["response"] is String })
            let last = try #require(lines.last)
            #expect(last["done"] as? Bool == true)
            #expect(last["eval_count"] as? Int == 4)
            #expect(last["prompt_eval_count"] as? Int ?? 0 > 0)
            #expect(last["eval_duration"] as? Int ?? 0 > 0)

            let single = try await server.post("/api/chat", ["messages": [["role": "user", "content": "Hi"]], "stream": false,
                                                             "options": ["num_predict": 3, "temperature": 0]])
            #expect(single.object["done"] as? Bool == true)
            #expect((single.object["message"] as? [String: Any])?["role"] as? String == "assistant")
            let content = (single.object["message"] as? [String: Any])?["content"] as? String ?? ""
            #expect(!content.isEmpty)
            #expect(single.object["done_reason"] as? String == "length")

            let chatStream = try await server.post("/api/chat", ["messages": [["role": "user", "content": "Hi"]], "options": ["num_predict": 3]])
            #expect(chatStream.body.split(separator: "\n").count >= 2)

            #expect((try await server.get("/api/tags").object["models"] as? [[String: Any]])?.first?["name"] as? String == "gemma-3-270m-q4_k_m")
            #expect(try await server.get("/api/version").object["version"] is String)
            #expect((try await server.get("/api/ps").object["models"] as? [Any])?.count == 1)
        }
    }

    // MARK: Bad input

    @Test func badInputsGetClearErrors() async throws {
        try await TestServer.with(contextSize: 512, configure: { $0.maxBodySize = 4096 }) { server in
            func check(_ reply: TestServer.Reply, _ status: Int, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
                #expect(reply.status == status, "\(reply.body)", sourceLocation: sourceLocation)
                #expect(reply.errorMessage.contains(fragment), "\(reply.body)", sourceLocation: sourceLocation)
                #expect((reply.object["error"] as? [String: Any])?["code"] as? Int == status, sourceLocation: sourceLocation)
            }
            check(try await server.request(.POST, "/v1/chat/completions", body: "{not json"), 400, "not valid JSON")
            check(try await server.request(.POST, "/v1/chat/completions", body: ""), 400, "empty")
            check(try await server.post("/v1/chat/completions", ["messages": "hello"]), 400, "messages")
            check(try await server.post("/v1/chat/completions", ["messages": []]), 400, "messages")
            check(try await server.post("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "temperature": "hot"]), 400, "temperature")
            check(try await server.post("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "top_p": 7]), 400, "top_p")
            check(try await server.post("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "max_tokens": -1]), 400, "max_tokens")
            check(try await server.post("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "n": 3]), 400, "'n'")
            check(try await server.post("/v1/chat/completions", ["messages": [["role": "wizard", "content": "hi"]]]), 400, "role")
            check(try await server.post("/v1/completions", ["max_tokens": 3]), 400, "'prompt' is required")
            // A prompt longer than the slot: 400 with both numbers.
            let long = String(repeating: "token ", count: 320)
            let tooLong = try await server.post("/v1/completions", ["prompt": long])
            check(tooLong, 400, "exceeds the available context size (256 tokens)")
            #expect((tooLong.object["error"] as? [String: Any])?["type"] as? String == "exceed_context_size_error")
            // Over the body limit.
            check(try await server.request(.POST, "/v1/completions", body: "{\"prompt\":\"" + String(repeating: "a", count: 10_000) + "\"}"), 413, "4096 bytes")
            check(try await server.get("/v1/nowhere"), 404, "/v1/nowhere")
            check(try await server.get("/v1/chat/completions"), 405, "GET is not allowed")
            // And the server still serves.
            #expect(try await server.post("/v1/completions", ["prompt": "ok", "max_tokens": 1]).status == 200)
        }
    }

    @Test func fullQueueAnswers503WithRetryAfter() async throws {
        try await TestServer.with(slots: 1, configure: { $0.engine.maxQueue = 0 }) { server in
            let busy = Task { try await server.post("/v1/completions", busyRequest(300)) }
            defer { busy.cancel() }
            try await eventually { (try await server.get("/slots").json as? [[String: Any]])?.first?["is_processing"] as? Bool == true }
            let refused = try await server.post("/v1/completions", ["prompt": "hi", "max_tokens": 1])
            #expect(refused.status == 503)
            #expect(refused.headers["Retry-After"].first != nil)
        }
    }

    // MARK: Streaming behaviour

    @Test func queuedStreamGetsKeepAlivePings() async throws {
        try await TestServer.with(slots: 1, configure: { $0.ssePingInterval = .milliseconds(150) }) { server in
            let busy = Task { try await server.post("/v1/completions", busyRequest(60)) }
            try await eventually { (try await server.get("/slots").json as? [[String: Any]])?.first?["is_processing"] as? Bool == true }
            let queued = try await server.post("/v1/completions", ["prompt": "Hi", "max_tokens": 2, "stream": true])
            _ = try await busy.value
            #expect(queued.body.hasPrefix(": ping\n\n"), "\(queued.body.prefix(80))")
            #expect(queued.body.hasSuffix("data: [DONE]\n\n"))
        }
    }

    @Test func clientDisconnectFreesTheSlot() async throws {
        try await TestServer.with(slots: 1) { server in
            var request = HTTPClientRequest(url: server.base + "/v1/completions")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer test-key")
            request.body = .bytes(ByteBuffer(string: #"{"prompt":"1, 2, 3, 4, 5, 6, 7, 8,","max_tokens":2000,"temperature":0,"stream":true}"#))
            let reader = Task {
                let response = try await TestServer.client.execute(request, timeout: .seconds(60))
                var chunks = 0
                for try await _ in response.body {
                    chunks += 1
                    if chunks >= 3 { break }
                }
                return chunks
            }
            _ = try await reader.value  // leaving the body early closes the connection
            try await eventually(timeout: .seconds(20)) {
                let slot = (try await server.get("/slots").json as? [[String: Any]])?.first
                return slot?["is_processing"] as? Bool == false
            }
        }
    }
}

/// A greedy request that keeps generating (counting) until max_tokens.
func busyRequest(_ maxTokens: Int) -> [String: Any] {
    ["prompt": "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,", "max_tokens": maxTokens, "temperature": 0]
}

/// Retries `condition` until it holds or the time runs out.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool,
                sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition did not hold within \(timeout)", sourceLocation: sourceLocation)
}

@Suite("Streams written from the connection's event loop")
struct EventLoopTaskExecutorTests {
    @Test func aTaskPreferringTheLoopIsResumedOnIt() async throws {
        let loop = TestServer.client.eventLoopGroup.next()
        let (events, sink) = AsyncStream<Int>.makeStream()
        let resumedOnLoop = await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
            // Yielded from a plain thread, as the engine's thread does.
            Thread {
                for event in 0..<3 { usleep(2_000); sink.yield(event) }
                sink.finish()
            }.start()
            var seen: [Bool] = []
            for await _ in events { seen.append(loop.inEventLoop) }
            return seen
        }
        #expect(resumedOnLoop == [true, true, true])
        #expect(!loop.inEventLoop)
    }
}
