import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
@testable import GemmaKit

/// Several models behind one server (`-m a=… -m b=… -m c=…`): the real model under three aliases,
/// each its own engine, loaded when a request names it and unloaded to make room or when idle.
@Suite("Several models behind one server", .serialized)
struct SeveralModelsTests {
    /// What one loaded alias adds, as the planner sizes it for the test server's context (4096 tokens, 2 slots).
    static let plannedBytes: UInt64 = {
        var configuration = ServerConfiguration(modelPath: TestModel.path)
        configuration.engine = EngineOptions(context: ContextOptions(contextSize: 4096, sequences: 2))
        return ModelHost(configuration: configuration).plannedBytes()!
    }()

    /// `a` (the default), `b` and `c`: the same file three times, with a budget that holds two of them.
    static func serve(modelsMax: Int = 4, budgetModels: Double = 2.5, keepAlive: Duration? = nil, autoload: Bool = true,
                      _ body: @Sendable (TestServer) async throws -> Void) async throws {
        try await TestServer.with(configure: { configuration in
            configuration.aliases = ["a"]
            configuration.otherModels = [ModelChoice(alias: "b", path: TestModel.path), ModelChoice(alias: "c", path: TestModel.path)]
            configuration.modelsMax = modelsMax
            configuration.memoryBudget = MemoryPlanner.processBaseBytes + UInt64(Double(plannedBytes) * budgetModels)
            configuration.keepAlive = keepAlive
            configuration.modelsAutoload = autoload
            configuration.ssePingInterval = .milliseconds(100)
        }, body)
    }

    /// Each model's router status (`/models`) and loads started, by id.
    static func statuses(_ server: TestServer) async throws -> [String: (value: String, loads: Int)] {
        let reply = try await server.get("/models")
        let data = reply.object["data"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: data.map { entry in
            let status = entry["status"] as? [String: Any] ?? [:]
            return (entry["id"] as? String ?? "", (status["value"] as? String ?? "", status["loads"] as? Int ?? -1))
        })
    }

    static func complete(_ server: TestServer, model: String, path: String = "/v1/completions") async throws -> TestServer.Reply {
        try await server.post(path, ["model": model, "prompt": "Hello", "max_tokens": 2, "temperature": 0])
    }

    @Test func listsEveryModelAndRefusesUnknownNamesInEachAPIsShape() async throws {
        try await Self.serve { server in
            let models = try await server.get("/v1/models")
            let ids = (models.object["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(ids == ["a", "b", "c"])
            // `gemmactl health` shows each model's state.
            let states = try #require(HealthCheck.modelStates(models.json))
            #expect(states == ["a": "loaded", "b": "unloaded", "c": "unloaded"])
            let report = HealthReport(status: .ready, url: server.base, flavor: nil, models: ids, modelStates: states,
                                      latencyMs: nil, authRequired: nil, version: nil, detail: "", recovery: nil)
            #expect(report.text.contains("model:   a (loaded), b (unloaded), c (unloaded)"), "\(report.text)")
            let statuses = try await Self.statuses(server)
            #expect(statuses["a"]?.value == "loaded")
            #expect(statuses["b"]?.value == "unloaded")
            #expect(statuses["c"]?.value == "unloaded")
            let tags = try await server.get("/api/tags")
            #expect((tags.object["models"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["a", "b", "c"])

            let openAI = try await Self.complete(server, model: "nope")
            #expect(openAI.status == 404)
            let error = openAI.object["error"] as? [String: Any] ?? [:]
            #expect(error["code"] as? String == "model_not_found")
            #expect(error["param"] as? String == "model")
            #expect((error["message"] as? String)?.contains("'a', 'b', 'c'") == true, "\(openAI.body)")
            let ollama = try await server.post("/api/chat", ["model": "nope", "messages": [["role": "user", "content": "hi"]]])
            #expect(ollama.status == 404)
            #expect((ollama.object["error"] as? String)?.contains("'nope'") == true, "\(ollama.body)")
            let anthropic = try await server.post("/v1/messages", ["model": "nope", "max_tokens": 2, "messages": [["role": "user", "content": "hi"]]])
            #expect(anthropic.status == 404)
            let embeddings = try await server.post("/v1/embeddings", ["model": "nope", "input": "hi"])
            #expect(embeddings.status == 404)
            #expect(try await server.post("/tokenize", ["model": "nope", "content": "hi"]).status == 404)
            // Nothing was loaded for them.
            #expect(try await Self.statuses(server).values.map(\.loads).reduce(0, +) == 0)
        }
    }

    @Test func concurrentFirstRequestsShareOneLoadAndAnswerAsTheirModel() async throws {
        try await Self.serve { server in
            let replies = try await withThrowingTaskGroup(of: TestServer.Reply.self) { group in
                for path in ["/v1/completions", "/v1/completions", "/completion"] {
                    group.addTask { try await Self.complete(server, model: "b", path: path) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for reply in replies {
                #expect(reply.status == 200, "\(reply.body)")
                #expect(reply.object["model"] as? String == "b")
            }
            let statuses = try await Self.statuses(server)
            #expect(statuses["b"]?.value == "loaded")
            #expect(statuses["b"]?.loads == 1)
            #expect(statuses["a"]?.value == "loaded")
            // Any of a model's names picks it: here the file name, which every alias shares, picks the first.
            let byFile = try await Self.complete(server, model: URL(fileURLWithPath: TestModel.path).lastPathComponent)
            #expect(byFile.object["model"] as? String == "a")
        }
    }

    @Test func theLeastRecentlyUsedIdleModelMakesRoom() async throws {
        try await Self.serve { server in
            #expect(try await Self.complete(server, model: "b").status == 200)
            #expect(try await Self.complete(server, model: "a").status == 200)
            // Two fit the budget: c needs room, and b is the one used least recently.
            #expect(try await Self.complete(server, model: "c").status == 200)
            var statuses = try await Self.statuses(server)
            #expect(statuses["a"]?.value == "loaded")
            #expect(statuses["b"]?.value == "unloaded")
            #expect(statuses["c"]?.value == "loaded")
            // Now a is the older: b takes its place, and a comes back on its next request.
            #expect(try await Self.complete(server, model: "b").status == 200)
            statuses = try await Self.statuses(server)
            #expect(statuses["a"]?.value == "unloaded")
            #expect(statuses["b"]?.value == "loaded")
            #expect(statuses["b"]?.loads == 2)
            #expect(try await Self.complete(server, model: "a").status == 200)
            #expect(try await Self.statuses(server)["a"]?.loads == 1)  // the start's load is not a registry load
            // /ready watches the default model, which a request brings back.
            #expect(try await server.get("/ready").status == 200)
        }
    }

    @Test func aModelThatCannotMakeRoomIsA503NamingIt() async throws {
        try await Self.serve(modelsMax: 1) { server in
            let release = ModelServerProtocolTests.Release()
            let (started, signal) = AsyncStream<Void>.makeStream()
            // A long stream on a holds the one model that may be loaded.
            let stream = Task {
                var request = HTTPClientRequest(url: server.base + "/v1/completions")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer test-key")
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"{"model":"a","prompt":"1, 2, 3, 4, 5,","max_tokens":2000,"temperature":0,"stream":true}"#))
                let response = try await TestServer.client.execute(request, timeout: .seconds(600))
                for try await _ in response.body {
                    signal.yield()
                    if release.isSet { break }
                }
            }
            var iterator = started.makeAsyncIterator()
            _ = await iterator.next()
            let refused = try await Self.complete(server, model: "b")
            #expect(refused.status == 503)
            #expect(refused.headers.first(name: "Retry-After") != nil)
            #expect(refused.errorMessage.contains("'b'"), "\(refused.body)")
            #expect(try await Self.statuses(server)["b"]?.value == "unloaded")
            release.set()
            try await stream.value
            // Once a's stream has ended, a is idle and gives way.
            try await eventually(timeout: .seconds(60)) { try await Self.complete(server, model: "b").status == 200 }
            #expect(try await Self.statuses(server)["a"]?.value == "unloaded")
        }
    }

    @Test func unloadingFreesTheModelsMemory() async throws {
        try await Self.serve { server in
            #expect(try await server.post("/models/load", ["model": "b"]).object["success"] as? Bool == true)
            // A generation touches every weight page of b's mapping.
            #expect(try await Self.complete(server, model: "b").status == 200)
            let loaded = try #require(MemoryBudget.residentBytes())
            #expect(try await server.post("/models/unload", ["model": "b"]).object["success"] as? Bool == true)
            let unloaded = try #require(MemoryBudget.residentBytes())
            #expect(try await Self.statuses(server)["b"]?.value == "unloaded")
            let weights = try MemoryPlanner.plan(path: TestModel.path, options: PlanOptions()).weightsBytes
            // The weights' mapping, the KV cache and the compute buffers go: at least half the weights' size.
            #expect(loaded > unloaded + weights / 2, "RSS \(loaded >> 20) MiB loaded, \(unloaded >> 20) MiB after unloading, weights \(weights >> 20) MiB")
        }
    }

    @Test func ollamaKeepAliveAndThePreloadIdiom() async throws {
        try await Self.serve(keepAlive: .seconds(600)) { server in
            // No prompt: load.
            let load = try await server.post("/api/generate", ["model": "c"])
            #expect(load.object["done_reason"] as? String == "load")
            #expect(try await Self.statuses(server)["c"]?.value == "loaded")
            let ps = try await server.get("/api/ps")
            let running = (ps.object["models"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(Set(running) == ["a", "c"])
            // keep_alive 0: unloaded as the answer goes out.
            let answer = try await server.post("/api/generate", ["model": "c", "prompt": "Hi", "stream": false, "keep_alive": 0,
                                                                 "options": ["num_predict": 2]])
            #expect(answer.status == 200, "\(answer.body)")
            #expect(try await Self.statuses(server)["c"]?.value == "unloaded")
            // No messages and keep_alive 0: unload without loading.
            #expect(try await server.post("/api/chat", ["model": "b", "messages": [Any](), "keep_alive": 0]).object["done_reason"] as? String == "unload")
            #expect(try await Self.statuses(server)["b"]?.loads == 0)
            #expect(try await server.post("/api/chat", ["model": "a", "messages": [Any](), "keep_alive": "0"]).object["done_reason"] as? String == "unload")
            #expect(try await Self.statuses(server)["a"]?.value == "unloaded")
            #expect(try await server.post("/api/generate", ["model": "a", "keep_alive": "soon"]).status == 400)
        }
    }

    @Test func withoutAutoloadOnlyAnExplicitLoadLoads() async throws {
        try await Self.serve(autoload: false) { server in
            let refused = try await Self.complete(server, model: "b")
            #expect(refused.status == 503)
            #expect(refused.errorMessage.contains("--no-models-autoload"), "\(refused.body)")
            #expect(try await server.post("/models/load", ["model": "b"]).status == 200)
            #expect(try await Self.complete(server, model: "b").status == 200)
            #expect(try await server.get("/props?model=b").object["model_alias"] as? String == "b")
            #expect(try await server.get("/slots?model=b").status == 200)
            // Each model's series carry its name; the scrape shows every model, ?model= picks llama-server's.
            let metrics = try await server.get("/metrics?model=b").body
            #expect(metrics.contains(#"gemmactl_model_ready{model="b"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"gemmactl_model_ready{model="c"} 0"#), "\(metrics)")
            #expect(!metrics.split(separator: "\n").contains { $0.hasPrefix("gemmactl_model_ready ") || $0.hasPrefix("gemmactl_slots ") })
            let generated = metrics.split(separator: "\n").first { $0.hasPrefix(#"gemmactl_generated_tokens_total{model="b"} "#) }
            #expect(try #require(generated).split(separator: " ").last.flatMap { Double($0) } ?? 0 > 0)
            #expect(metrics.contains("llamacpp:tokens_predicted_total "))
            #expect(try await server.get("/metrics?model=c").body.contains("llamacpp:") == false)
            #expect(try await server.get("/metrics?model=nope").status == 404)
            #expect(try await server.get("/props?model=c").status == 503)
            #expect(try await server.post("/models/load", ["model": "nope"]).status == 404)
        }
    }

    @Test func aSingleModelAnswersAnyNameAsBefore() async throws {
        try await TestServer.with { server in
            let reply = try await Self.complete(server, model: "whatever-the-client-says")
            #expect(reply.status == 200)
            let models = try await server.get("/v1/models")
            let entry = (models.object["data"] as? [[String: Any]])?.first ?? [:]
            #expect(entry["status"] == nil)
        }
    }

    @Test func aSingleModelSleepsWhenIdleAndTheNextRequestWakesIt() async throws {
        try await TestServer.with(configure: { $0.sleepIdle = .seconds(5) }) { server in
            func sleeping() async throws -> Bool? { try await server.get("/props").object["is_sleeping"] as? Bool }
            // A model that sleeps shows llama-server's router status in /v1/models.
            func status() async throws -> String? {
                let entry = (try await server.get("/v1/models").object["data"] as? [[String: Any]])?.first
                return (entry?["status"] as? [String: Any])?["value"] as? String
            }
            #expect(try await Self.complete(server, model: "any").status == 200)
            #expect(try await sleeping() == false)
            #expect(try await status() == "loaded")
            let awake = try #require(MemoryBudget.residentBytes())
            try await eventually(timeout: .seconds(60)) { try await sleeping() == true }
            let asleep = try #require(MemoryBudget.residentBytes())
            let weights = try MemoryPlanner.plan(path: TestModel.path, options: PlanOptions()).weightsBytes
            #expect(awake > asleep + weights / 2, "RSS \(awake >> 20) MiB awake, \(asleep >> 20) MiB asleep, weights \(weights >> 20) MiB")
            // Probes and scrapes do not wake it.
            #expect(try await server.get("/health").status == 200)
            #expect(try await server.get("/ready").status == 200)
            #expect(try await server.get("/metrics").body.contains("gemmactl_model_ready 0"))
            #expect(try await sleeping() == true)
            #expect(try await status() == "sleeping")
            #expect(try await server.get("/props").object["model_path"] as? String == TestModel.path)
            // A request does.
            #expect(try await Self.complete(server, model: "any").status == 200)
            #expect(try await sleeping() == false)
            #expect(try await status() == "loaded")
        }
    }

    @Test func aPresetModelWithLoadOnStartupLoadsAtStartWithItsOwnSettings() async throws {
        try await TestServer.with(configure: { configuration in
            configuration.aliases = ["a"]
            var own = configuration
            own.engine.context = ContextOptions(contextSize: 2048, sequences: 1)
            configuration.otherModels = [ModelChoice(alias: "early", path: TestModel.path, settings: ModelSettings(of: own, loadOnStartup: true)),
                                         ModelChoice(alias: "late", path: TestModel.path)]
        }) { server in
            // Loaded without a request; /ready waits for it.
            try await eventually(timeout: .seconds(60)) { try await server.get("/ready").status == 200 }
            let statuses = try await Self.statuses(server)
            #expect(statuses["early"]?.value == "loaded" && statuses["late"]?.value == "unloaded", "\(statuses)")
            let models = try await server.get("/v1/models").object["data"] as? [[String: Any]] ?? []
            let early = models.first { $0["id"] as? String == "early" }
            #expect((early?["meta"] as? [String: Any])?["n_ctx_slot"] as? Int == 2048, "\(String(describing: early))")
            #expect(try await Self.complete(server, model: "early").status == 200)
            #expect((try await server.get("/slots?model=early").json as? [Any])?.count == 1)
        }
    }

    @Test func aModelFoundInTheCacheThatCouldNeverFitIsRefusedWhenNamedNotAtStart() async throws {
        let tiny = try TinyGemma4.path.get()
        var small = ServerConfiguration(modelPath: tiny)
        small.engine = EngineOptions(context: ContextOptions(contextSize: 4096, sequences: 2))
        let tinyBytes = try #require(ModelHost(configuration: small).plannedBytes())
        try #require(tinyBytes < Self.plannedBytes / 2, "the tiny Gemma 4 plans \(tinyBytes >> 20) MiB")
        try await TestServer.with(configure: { configuration in
            configuration.modelPath = tiny
            configuration.aliases = ["tiny"]
            configuration.otherModels = [ModelChoice(alias: "org/big-GGUF:Q4_K_M", path: TestModel.path, foundInCache: true)]
            configuration.memoryBudget = MemoryPlanner.processBaseBytes + (tinyBytes + Self.plannedBytes) / 2
        }) { server in
            let refused = try await Self.complete(server, model: "org/big-GGUF:Q4_K_M")
            #expect(refused.status == 503)
            #expect(refused.errorMessage.contains("memory budget") && refused.errorMessage.contains("cannot be loaded here"), "\(refused.body)")
            #expect(refused.headers.first(name: "Retry-After") == nil)
            #expect(try await Self.complete(server, model: "tiny").status == 200)
        }
    }

    @Test func aModelThatCouldNeverFitIsRefusedAtStart() throws {
        var configuration = ServerConfiguration(modelPath: TestModel.path)
        configuration.otherModels = [ModelChoice(alias: "b", path: TestModel.path)]
        configuration.aliases = ["a"]
        configuration.memoryBudget = MemoryPlanner.processBaseBytes + Self.plannedBytes / 2
        let error = #expect(throws: ServeError.self) { try GemmaServer(configuration: configuration) }
        #expect(error?.message.contains("as planned") == true, "\(String(describing: error))")
        configuration.memoryBudget = nil
        configuration.otherModels = [ModelChoice(alias: "a", path: TestModel.path)]
        #expect(throws: ServeError.self) { try GemmaServer(configuration: configuration) }
    }
}
