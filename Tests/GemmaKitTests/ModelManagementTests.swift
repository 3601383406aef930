import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing
@testable import GemmaKit

/// Model management over the API (`--allow-model-management`): Ollama's pull, copy and delete and
/// llama-server's `POST`/`DELETE /models`, against the hub and registry stand-in serving the tiny
/// Gemma 4 (a real, loadable GGUF), into a fresh cache, beside the real default model.
@Suite("Model management over the API", .serialized)
struct ModelManagementTests {
    static let repo = "test-org/tiny-GGUF"
    static let file = "tiny-Q4_K_M.gguf"

    /// The stand-in serving the tiny Gemma 4 as `test-org/tiny-GGUF` and as Ollama's `tiny:latest`, and a
    /// server with management on (or off) whose cache is a fresh directory.
    static func serve(allow: Bool = true, configure: (inout RegistryStandIn.Config) -> Void = { _ in },
                      _ body: @Sendable (TestServer, RegistryStandIn, HubCache) async throws -> Void) async throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: TinyGemma4.path.get()))
        var config = RegistryStandIn.Config()
        config.files[repo] = [file: bytes]
        config.ollama["library/tiny:latest"] = bytes
        configure(&config)
        let standIn = RegistryStandIn(config)
        try await standIn.start()
        let directory = TemporaryDirectory()
        let cache = HubCache(root: directory.url.appendingPathComponent("hub"))
        do {
            try await TestServer.with(configure: { configuration in
                configuration.allowModelManagement = allow
                configuration.modelCache = cache
                configuration.hubSettings = standIn.settings()
                configuration.ssePingInterval = .milliseconds(100)
            }) { server in try await body(server, standIn, cache) }
        } catch {
            await standIn.stop()
            throw error
        }
        await standIn.stop()
    }

    static func ids(_ server: TestServer) async throws -> [String] {
        ((try await server.get("/v1/models")).object["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    static func lines(_ body: String) -> [[String: Any]] {
        body.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func everyManagementEndpointIsRefusedWithoutTheFlag() async throws {
        try await Self.serve(allow: false) { server, standIn, cache in
            let refusals = [
                try await server.post("/api/pull", ["model": "tiny"]),
                try await server.request(.DELETE, "/api/delete", body: #"{"model":"tiny"}"#),
                try await server.post("/api/copy", ["source": "tiny", "destination": "other"]),
                try await server.post("/models", ["model": Self.repo]),
                try await server.request(.DELETE, "/models?model=tiny"),
            ]
            for reply in refusals {
                #expect(reply.status == 403, "\(reply.body)")
                #expect(reply.body.contains("--allow-model-management"), "\(reply.body)")
            }
            // Ollama's paths answer in Ollama's shape.
            #expect(refusals[0].object["error"] is String)
            #expect(standIn.log.withLock { $0.requests.isEmpty })
            #expect(!FileManager.default.fileExists(atPath: cache.root.path))
        }
    }

    @Test func anOllamaPullStreamsProgressServesTheModelAndDeleteRemovesIt() async throws {
        try await Self.serve { server, _, cache in
            let name = "hf.co/\(Self.repo):Q4_K_M"
            let pull = try await server.post("/api/pull", ["model": name])
            #expect(pull.status == 200, "\(pull.body)")
            #expect(pull.headers.first(name: "Content-Type") == "application/x-ndjson")
            let statuses = Self.lines(pull.body).compactMap { $0["status"] as? String }
            #expect(statuses.first == "pulling manifest", "\(statuses)")
            #expect(statuses.contains("verifying sha256 digest"))
            #expect(statuses.last == "success")
            let progress = Self.lines(pull.body).filter { ($0["status"] as? String)?.hasPrefix("pulling test-org") == true }
            let size = try FileManager.default.attributesOfItem(atPath: TinyGemma4.path.get())[.size] as? Int
            #expect(progress.last?["completed"] as? Int == size && progress.last?["total"] as? Int == size, "\(progress)")
            let path = try #require(cache.cachedFile(repo: Self.repo, file: Self.file))

            // Served at once, under the name pulled and its hub names, and it answers.
            #expect(try await Self.ids(server).contains(name))
            let tags = try await server.get("/api/tags")
            #expect((tags.object["models"] as? [[String: Any]])?.contains { $0["name"] as? String == name } == true)
            let completion = try await server.post("/v1/completions", ["model": "\(Self.repo):Q4_K_M", "prompt": "Hi", "max_tokens": 2])
            #expect(completion.status == 200, "\(completion.body)")
            #expect(completion.object["model"] as? String == name)

            // Loaded: never touched.
            let busy = try await server.request(.DELETE, "/api/delete", body: #"{"model":"\#(name)"}"#)
            #expect(busy.status == 409, "\(busy.body)")
            #expect((busy.object["error"] as? String)?.contains("unload it first") == true, "\(busy.body)")
            #expect(FileManager.default.fileExists(atPath: path.path))

            #expect(try await server.post("/models/unload", ["model": name]).status == 200)
            let deleted = try await server.request(.DELETE, "/api/delete", body: #"{"model":"\#(name)"}"#)
            #expect(deleted.status == 200, "\(deleted.body)")
            #expect(!FileManager.default.fileExists(atPath: path.path))
            #expect(try FileManager.default.contentsOfDirectory(atPath: cache.repoDirectory(Self.repo).appendingPathComponent("blobs").path).isEmpty)
            #expect(try await Self.ids(server).contains(name) == false)
            #expect(try await server.post("/v1/completions", ["model": name, "prompt": "Hi", "max_tokens": 2]).status == 404)
            #expect(try await server.request(.DELETE, "/api/delete", body: #"{"model":"\#(name)"}"#).status == 404)

            // The model the server was started with is a file of its own, not the cache's: never deleted.
            let own = try await server.request(.DELETE, "/api/delete", body: #"{"model":"\#(server.server.core.registry.defaultHost.modelID)"}"#)
            #expect(own.status == 400, "\(own.body)")
            #expect((own.object["error"] as? String)?.contains("not a model of the shared cache") == true, "\(own.body)")
            #expect(FileManager.default.fileExists(atPath: TestModel.path))
        }
    }

    @Test func anOllamaNamePullsWholeAndCopiesWithoutASecondCopyOfTheWeights() async throws {
        try await Self.serve { server, _, cache in
            let pull = try await server.post("/api/pull", ["model": "tiny", "stream": false])
            #expect(pull.status == 200, "\(pull.body)")
            #expect(pull.object["status"] as? String == "success")
            #expect(try await Self.ids(server).contains("tiny:latest"))

            let copy = try await server.post("/api/copy", ["source": "tiny:latest", "destination": "mine"])
            #expect(copy.status == 200, "\(copy.body)")
            #expect(try await Self.ids(server).contains("mine:latest"))
            let original = try #require(cache.cachedFile(repo: "ollama-library/tiny", file: "tiny-latest.gguf", revision: "latest"))
            let copied = try #require(cache.cachedFile(repo: "ollama-library/mine", file: "mine-latest.gguf", revision: "latest"))
            let inode = { (url: URL) in try FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path)[.systemFileNumber] as? Int }
            #expect(try inode(original) == inode(copied))
            // A name taken is refused, not replaced.
            let taken = try await server.post("/api/copy", ["source": "tiny:latest", "destination": "mine"])
            #expect(taken.status == 409, "\(taken.body)")
            #expect(try await server.post("/api/copy", ["source": "tiny:latest", "destination": "../x"]).status == 400)
            #expect(try await server.post("/api/copy", ["source": "nope", "destination": "other"]).status == 404)

            // The copy outlives the original, and answers.
            #expect(try await server.request(.DELETE, "/api/delete", body: #"{"model":"tiny:latest"}"#).status == 200)
            #expect(!FileManager.default.fileExists(atPath: original.path))
            let answer = try await server.post("/api/generate", ["model": "mine", "prompt": "Hi", "stream": false, "options": ["num_predict": 2]])
            #expect(answer.status == 200, "\(answer.body)")
        }
    }

    @Test func aPullTheVolumeCannotHoldIs507NamingTheSizes() async throws {
        let sha = try sha256Hex(Data(contentsOf: URL(fileURLWithPath: TinyGemma4.path.get())))
        try await Self.serve(configure: { $0.advertisedSize[sha] = 1 << 50 }) { server, _, _ in
            let ollama = try await server.post("/api/pull", ["model": "hf.co/\(Self.repo):Q4_K_M"])
            #expect(ollama.status == 507, "\(ollama.body)")
            let message = try #require(ollama.object["error"] as? String)
            #expect(message.contains("\(1 << 50) bytes needed"), "\(message)")
            let native = try await server.post("/models", ["model": "\(Self.repo):Q4_K_M"])
            #expect(native.status == 507, "\(native.body)")
            #expect(try await Self.ids(server).count == 1)
        }
    }

    @Test func llamaServersDownloadAndDeleteWithTheirEventsOnModelsSSE() async throws {
        try await Self.serve { server, _, cache in
            var request = HTTPClientRequest(url: server.base + "/models/sse")
            request.headers.add(name: "Authorization", value: "Bearer test-key")
            let sse = try await TestServer.client.execute(request, timeout: .seconds(300))
            #expect(sse.status == .ok)
            #expect(sse.headers.first(name: "Content-Type") == "text/event-stream")
            // Every event as MODEL|EVENT|STATUS, read until the test ends (the task is cancelled then).
            let seen = Lines()
            let reader = Task {
                var buffer = ""
                for try await chunk in sse.body {
                    buffer += String(buffer: chunk)
                    while let end = buffer.range(of: "\n\n") {
                        let line = String(buffer[..<end.lowerBound])
                        buffer.removeSubrange(..<end.upperBound)
                        guard line.hasPrefix("data: "),
                              let event = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] else { continue }
                        let status = (event["data"] as? [String: Any])?["status"] as? String ?? ""
                        seen.lines.withLock { $0.append("\(event["model"] ?? "")|\(event["event"] ?? "")|\(status)") }
                    }
                }
            }
            defer { reader.cancel() }
            let name = "\(Self.repo):Q4_K_M"
            let download = try await server.post("/models", ["model": name])
            #expect(download.status == 200, "\(download.body)")
            #expect(download.object["success"] as? Bool == true)
            try await eventually(timeout: .seconds(60)) { try await Self.ids(server).contains(name) }
            #expect(try await server.post("/models", ["model": name]).status == 400)
            #expect(try await server.post("/models", ["model": "not a repo"]).status == 400)

            #expect(try await server.post("/models/load", ["model": name]).status == 200)
            #expect(try await server.post("/models/unload", ["model": name]).status == 200)
            let deleted = try await server.request(.DELETE, "/models?model=\(name)")
            #expect(deleted.status == 200, "\(deleted.body)")
            #expect(cache.cachedFile(repo: Self.repo, file: Self.file) == nil)

            try await eventually(timeout: .seconds(30)) { seen.lines.withLock { $0.last == "\(name)|model_remove|" } }
            let events = seen.lines.withLock { $0 }
            #expect(events.contains("\(name)|download_progress|"), "\(events)")
            #expect(events.contains("\(name)|download_finished|"), "\(events)")
            #expect(events.contains("\(name)|model_added|unloaded"), "\(events)")
            let statuses = events.filter { $0.hasPrefix("\(name)|status_change|") }.map { $0.split(separator: "|").last.map(String.init) ?? "" }
            #expect(statuses == ["loading", "loaded", "unloaded"], "\(events)")
            #expect(events.last == "\(name)|model_remove|", "\(events)")
        }
    }
}

/// Lines read by one task and checked by another.
final class Lines: Sendable {
    let lines = Mutex<[String]>([])
}
