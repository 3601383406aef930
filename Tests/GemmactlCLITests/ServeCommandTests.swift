import AsyncHTTPClient
import Foundation
import GemmaKit
import NIOCore
import Testing

@Suite("gemmactl serve as a process", .serialized)
struct ServeCommandTests {
    @Test func refusesANonLoopbackAddressWithoutAKey() async throws {
        let result = try await GemmactlBinary.run(["serve", "--host", "0.0.0.0", "--port", "0"],
                                        environment: ["GEMMA_API_KEY": "", "LLAMA_API_KEY": ""])
        #expect(result.status != 0)
        #expect(result.stderr.contains("without an API key"))
        #expect(result.stderr.contains("--no-auth"))
    }

    @Test func badFlagValuesNameTheFlag() async throws {
        let duration = try await GemmactlBinary.run(["serve", "--shutdown-grace", "soon"])
        #expect(duration.status != 0)
        #expect(duration.stderr.contains("--shutdown-grace"))
        let environment = try await GemmactlBinary.run(["serve"], environment: ["GEMMA_CTX_SIZE": "big"])
        #expect(environment.status != 0)
        #expect(environment.stderr.contains("GEMMA_CTX_SIZE"))
        let missing = try await GemmactlBinary.run(["serve", "-m", "/no/such.gguf", "--port", "0"])
        // The server starts, fails to load, and keeps answering /health with 500: a missing file is
        // caught before listening instead.
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("/no/such.gguf"))
    }

    @Test func offlineServeOfAnUncachedModelFailsBeforeListeningNamingIt() async throws {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-offline-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: cache) }
        for (arguments, environment) in [(["--offline"], [:]), ([], ["LLAMA_OFFLINE": "1"])] as [([String], [String: String])] {
            let result = try await GemmactlBinary.run(["serve", "-m", "test-org/not-cached-GGUF:Q4_K_M", "--port", "0"] + arguments,
                                            environment: environment.merging(["HF_HUB_CACHE": cache.path]) { $1 }.mapValues { $0 })
            #expect(result.status != 0)
            #expect(result.stderr.contains("test-org/not-cached-GGUF:Q4_K_M"), "\(result.stderr)")
            #expect(result.stderr.contains("offline"), "\(result.stderr)")
            #expect(!result.stderr.contains("listening"))
        }
    }

    @Test func sigtermLetsTheRequestInFlightFinishAndExitsZero() async throws {
        let port = unusedPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: GemmactlBinary.path)
        process.arguments = ["serve", "--port", "\(port)", "--parallel", "1", "--ctx-size", "1024",
                             // An upper bound only (the server exits once the stream ends): a loaded machine may
                             // take a minute for these 60 tokens, and the test is about draining, not speed.
                             "--shutdown-grace", "600s"]
        process.environment = ProcessInfo.processInfo.environment.merging(["GEMMA_API_KEY": "k"]) { $1 }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        let base = "http://127.0.0.1:\(port)"
        let client = HTTPClient.shared
        func healthStatus() async -> Int? {
            guard let response = try? await client.execute(HTTPClientRequest(url: base + "/health"), timeout: .seconds(2)) else { return nil }
            return Int(response.status.code)
        }
        var ready = false
        for _ in 0..<300 {
            if await healthStatus() == 200 { ready = true; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try #require(ready, "the server did not become ready")

        var request = HTTPClientRequest(url: base + "/v1/completions")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer k")
        request.body = .bytes(ByteBuffer(string: #"{"prompt":"1, 2, 3, 4,","max_tokens":60,"temperature":0,"stream":true}"#))
        let response = try await client.execute(request, timeout: .seconds(600))
        #expect(response.status.code == 200)
        // Signal only once tokens are streaming, so the request is certainly in flight.
        var body = ""
        var signalled = false
        for try await chunk in response.body {
            body += String(buffer: chunk)
            if !signalled, body.contains("\"text\"") {
                kill(process.processIdentifier, SIGTERM)
                signalled = true
            }
        }
        #expect(signalled, "no token was streamed")
        #expect(body.contains(#""finish_reason":"length""#), "the generation did not run to max_tokens: \(body.suffix(300))")
        #expect(body.hasSuffix("data: [DONE]\n\n"), "the stream was cut: \(body.suffix(200))")
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        // Nothing answers once it has stopped.
        #expect(await healthStatus() == nil)
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(!log.contains("Bearer k"))
    }

    /// With the hub unreachable (HF_ENDPOINT at a closed port), a cached registry model starts the
    /// server as a cached file does, by file (what the rendered pod runs) or by quant; the check of its
    /// branch runs beside the start and its failure is only logged. `pull` of it answers from the cache.
    @Test func aCachedModelStartsWithoutTheHub() async throws {
        let hub = ["HF_ENDPOINT": "http://127.0.0.1:\(unusedPort())", "GEMMA_API_KEY": "k"]
        let byFile = ["--hf-repo", DefaultModel.repo, "--hf-file", DefaultModel.file]
        for model in [byFile, ["-m", "\(DefaultModel.repo):Q4_K_M"]] {
            let server = try ServerProcess(executable: GemmactlBinary.path, arguments: { port in
                ["serve", "--port", "\(port)", "--parallel", "1", "--ctx-size", "1024"] + model
            }, environment: hub)
            defer { server.stop() }
            var healthy = false
            for _ in 0..<600 where server.process.isRunning {
                let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: server.url + "/health"), timeout: .seconds(2))
                if response?.status.code == 200 { healthy = true; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try #require(healthy, "the server did not become healthy: \(server.output)")
            // The re-check is asked beside the start: it has failed by now, or fails shortly.
            for _ in 0..<600 where !server.output.contains("model re-check failed") {
                try await Task.sleep(for: .milliseconds(100))
            }
            let log = server.output
            #expect(log.contains("model taken from the cache"), "\(log)")
            #expect(log.contains("model re-check failed"), "\(log)")
            // No pull ran before the start (it would have logged "resolving URL" and its retries).
            #expect(!log.contains("resolving") && !log.contains("retrying"), "\(log)")
        }
        let pull = try await GemmactlBinary.run(["pull"] + byFile, environment: hub.mapValues { Optional($0) })
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(pull.stdout.hasSuffix("\(DefaultModel.file)\n"), "\(pull.stdout)")
        #expect(pull.stderr.contains("the hub cannot be reached"), "\(pull.stderr)")
    }

    @Test func aModelThatFailsToLoadEndsTheProcess() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("broken.gguf")
        try Data("GGUF".utf8 + [3, 0, 0, 0]).write(to: file)
        let result = try await GemmactlBinary.run(["serve", "-m", file.path, "--port", "0"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("broken.gguf"))
    }
}
