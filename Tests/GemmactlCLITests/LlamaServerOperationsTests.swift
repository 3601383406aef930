import Foundation
import GemmaKit
import Testing

/// The operations commands against the real llama-server built from the pinned llama.cpp, with the
/// real default model: llama-server's own JSON, not a stand-in's idea of it.
/// scripts/test builds llama-server (`scripts/setup --tools`); a missing one fails the suite.
@Suite("Operations against llama-server", .serialized)
struct LlamaServerOperationsTests {
    @Test func healthSlotsAndDoctorAgainstLlamaServer() async throws {
        let model = try DefaultModel.path(in: .resolve(environment: ProcessInfo.processInfo.environment))
        let llamaServer = try #require(ServerProcess.llamaServer, "llama-server is not built: run scripts/setup --tools")
        let server = try ServerProcess(executable: llamaServer) { port in
            ["-m", model, "--host", "127.0.0.1", "--port", String(port), "-c", "2048", "-np", "2", "-t", "2",
             "--api-key", "llama-key", "--slots"]
        }
        defer { server.stop() }
        let key = ["GEMMA_API_KEY": "llama-key"]

        let ready = try await GemmactlBinary.run(["health", "--url", server.url, "--wait", "--timeout", "120s", "--interval", "200ms"],
                                                 environment: key)
        #expect(ready.status == 0, "\(ready.stdout)\n\(ready.stderr)\n\(server.output.suffix(2000))")
        #expect(ready.stdout.contains("gemma-3-270m"))

        let wrong = try await GemmactlBinary.run(["health", "--url", server.url], environment: ["GEMMA_API_KEY": "nope"])
        #expect(wrong.status == 3)

        let slots = try await GemmactlBinary.run(["slots", "--url", server.url, "--json"], environment: key)
        #expect(slots.status == 0, "\(slots.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(slots.stdout.utf8)) as? [String: Any])
        let list = try #require(document["slots"] as? [[String: Any]])
        #expect(list.count == 2)
        #expect(list.map { $0["id"] as? Int } == [0, 1])
        #expect(list.allSatisfy { $0["n_ctx"] as? Int == 1024 && $0["is_processing"] as? Bool == false })

        let doctor = try await GemmactlBinary.run(["doctor", "--url", server.url, "--stream-check", "--memory-limit", "4Gi",
                                                   "-c", "2048", "-np", "2", "--model", model, "--timeout", "60s"], environment: key)
        #expect(doctor.status == 0, "\(doctor.stdout)\n\(doctor.stderr)")
        #expect(doctor.stdout.contains("PASS  stream"))
        #expect(doctor.stdout.contains("PASS  slots"))
        let level = doctor.stdout.split(separator: "\n").first { $0.hasPrefix("SKIP  cpu level") }
        #expect(level?.contains("/props names no cpu_level") == true, "llama-server has no cpu_level: \(doctor.stdout)")
    }
}
