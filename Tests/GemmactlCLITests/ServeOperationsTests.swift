import Foundation
import GemmaKit
import Testing

/// The operations commands against the real `gemmactl serve` (issue 3) with the default model and a
/// keys file.
@Suite("Operations against gemmactl serve", .serialized)
struct ServeOperationsTests {
    static func startServe(keysFile: String) throws -> ServerProcess {
        // A binary without a working `serve` fails this suite instead of skipping it.
        let help = try GemmactlBinary.runBlocking(["serve", "--help"], environment: [:], stdin: nil)
        guard help.stdout.contains("USAGE: gemmactl serve") else {
            throw ServeUnavailable(output: help.stdout + help.stderr)
        }
        return try ServerProcess(executable: GemmactlBinary.path) { port in
            ["serve", "--host", "127.0.0.1", "--port", String(port), "--api-key-file", keysFile, "-c", "2048", "-np", "2"]
        }
    }

    @Test func healthExitCodesAgainstServe() async throws {
        let directory = try CLITempDirectory()
        let keys = directory.path("keys")
        try "# test keys\nserve-key\n".write(toFile: keys, atomically: true, encoding: .utf8)
        let server = try Self.startServe(keysFile: keys)
        let url = server.url
        let ready = try await GemmactlBinary.run(["health", "--url", url, "--wait", "--timeout", "120s", "--interval", "200ms"],
                                                 environment: ["GEMMA_API_KEY": "serve-key"])
        #expect(ready.status == 0, "\(ready.stdout)\n\(ready.stderr)\n\(server.output.suffix(2000))")
        let wrong = try await GemmactlBinary.run(["health", "--url", url], environment: ["GEMMA_API_KEY": "wrong"])
        #expect(wrong.status == 3)
        let none = try await GemmactlBinary.run(["health", "--url", url])
        #expect(none.status == 3)
        let slots = try await GemmactlBinary.run(["slots", "--url", url, "--json"], environment: ["GEMMA_API_KEY": "serve-key"])
        #expect(slots.status == 0, "\(slots.stderr)")
        #expect(slots.stdout.contains("\"slots\""))
        let doctor = try await GemmactlBinary.run(["doctor", "--url", url, "--stream-check", "--timeout", "60s"],
                                                  environment: ["GEMMA_API_KEY": "serve-key"])
        #expect(doctor.status == 0, "\(doctor.stdout)")
        // The CPU kernels the server runs: /props' cpu_level, also on the log's `model loaded` line.
        let level = doctor.stdout.split(separator: "\n").first { $0.hasPrefix("PASS  cpu level") }
        #expect(level?.hasSuffix("  the server runs llama.cpp's \(CPULevel.linked) CPU kernels") == true, "\(doctor.stdout)")
        #expect(server.output.contains("cpu_level=\(CPULevel.linked)"))
        server.stop()
        let gone = try await GemmactlBinary.run(["health", "--url", url], environment: ["GEMMA_API_KEY": "serve-key"])
        #expect(gone.status == 2)
    }

    @Test func slotsShowEachModelOfAServerOfSeveral() async throws {
        let directory = try CLITempDirectory()
        let keys = directory.path("keys")
        try "serve-key\n".write(toFile: keys, atomically: true, encoding: .utf8)
        let model = try DefaultModel.path(in: .resolve(environment: ProcessInfo.processInfo.environment))
        let server = try ServerProcess(executable: GemmactlBinary.path) { port in
            ["serve", "--host", "127.0.0.1", "--port", String(port), "--api-key-file", keys, "-c", "2048", "-np", "2",
             "-m", "a=" + model, "-m", "b=" + model]
        }
        defer { server.stop() }
        let environment = ["GEMMA_API_KEY": "serve-key"]
        let ready = try await GemmactlBinary.run(["health", "--url", server.url, "--wait", "--timeout", "120s"], environment: environment)
        try #require(ready.status == 0, "\(ready.stdout)\n\(server.output.suffix(2000))")
        let table = try await GemmactlBinary.run(["slots", "--url", server.url], environment: environment)
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(lines.first?.prefix(3) == ["MODEL", "ID", "STATE"], "\(table.stdout)")
        #expect(lines.filter { $0.first == "a" }.map { $0[2] } == ["idle", "idle"], "\(table.stdout)")
        #expect(lines.filter { $0.first == "b" }.map { $0[2] } == ["unloaded"], "\(table.stdout)")
        #expect(table.stdout.contains("0 of 2 slots processing; 1 of 2 models loaded"), "\(table.stdout)")
        let json = try await GemmactlBinary.run(["slots", "--url", server.url, "--json"], environment: environment)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let models = try #require(document["models"] as? [[String: Any]])
        #expect(models.map { "\($0["id"] ?? "")=\($0["status"] ?? "")" } == ["a=loaded", "b=unloaded"])
        #expect((document["slots"] as? [[String: Any]])?.map { $0["model"] as? String } == ["a", "a"])
        // Asking for slots loads nothing.
        let again = try await GemmactlBinary.run(["slots", "--url", server.url], environment: environment)
        #expect(again.stdout.contains("1 of 2 models loaded"), "\(again.stdout)")
    }

    @Test func rotateKeyWithALiveServe() async throws {
        let directory = try CLITempDirectory()
        let keys = directory.path("keys")
        try "old-key\n".write(toFile: keys, atomically: true, encoding: .utf8)
        let server = try Self.startServe(keysFile: keys)
        defer { server.stop() }
        let url = server.url
        let ready = try await GemmactlBinary.run(["health", "--url", url, "--wait", "--timeout", "120s"], environment: ["GEMMA_API_KEY": "old-key"])
        try #require(ready.status == 0, "\(ready.stdout)\n\(server.output.suffix(2000))")

        let stopOld = StopFlag()
        async let old = KeyRotationDowntimeTests.hammer(url, key: "old-key", stop: stopOld)
        let started = try await GemmactlBinary.run(["rotate-key", "--keys-file", keys, "--verify", "--url", url, "--show"])
        stopOld.set()
        let (oldCount, oldFailures) = try await old
        #expect(started.status == 0, "\(started.stderr)")
        #expect(oldFailures.isEmpty, "\(oldFailures.prefix(5)) of \(oldCount)")
        let newKey = started.stdout.trimmingCharacters(in: .newlines)
        #expect(try await GemmactlBinary.run(["health", "--url", url], environment: ["GEMMA_API_KEY": newKey]).status == 0)
        #expect(try await GemmactlBinary.run(["health", "--url", url], environment: ["GEMMA_API_KEY": "old-key"]).status == 0)

        let stopNew = StopFlag()
        async let new = KeyRotationDowntimeTests.hammer(url, key: newKey, stop: stopNew)
        let finished = try await GemmactlBinary.run(["rotate-key", "--keys-file", keys, "--finish", "--verify", "--url", url])
        stopNew.set()
        let (newCount, newFailures) = try await new
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(newFailures.isEmpty, "\(newFailures.prefix(5)) of \(newCount)")
        #expect(try await GemmactlBinary.run(["health", "--url", url], environment: ["GEMMA_API_KEY": "old-key"]).status == 3)
        #expect(try await GemmactlBinary.run(["health", "--url", url], environment: ["GEMMA_API_KEY": newKey]).status == 0)
    }
}

/// `gemmactl serve --help` did not show serve's usage: the binary under test cannot serve.
struct ServeUnavailable: Error, CustomStringConvertible {
    let output: String
    var description: String { "gemmactl serve --help did not print serve's usage:\n\(output.prefix(2000))" }
}
