import Foundation
import GemmaKit
import Testing

@Suite("gemmactl inspect, plan and models as processes")
struct ModelsCLITests {
    @Test func inspectTheDefaultModelAsJSON() async throws {
        let result = try await GemmactlBinary.run(["inspect", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["architecture"] as? String == "gemma3")
        #expect(object?["layers"] as? Int == 18)
        #expect(object?["vocabularySize"] as? Int == 262_144)
    }

    @Test func inspectAMissingOrBadFileFails() async throws {
        let missing = try await GemmactlBinary.run(["inspect", "/nonexistent/model.gguf"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("/nonexistent/model.gguf"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bad = directory.appendingPathComponent("bad.gguf")
        try Data("GGUF\u{3}\0\0\0".utf8).write(to: bad)
        let result = try await GemmactlBinary.run(["inspect", bad.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("truncated"))
        #expect(result.stdout.isEmpty)
    }

    @Test func planPrintsABreakdownAndValidates() async throws {
        let result = try await GemmactlBinary.run(["plan", "--ctx-size", "8192", "--parallel", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["kvCacheBytes"] as? Int == 18 * 8192 * 1024)
        #expect(object?["contextPerSequence"] as? Int == 4096)
        let text = try await GemmactlBinary.run(["plan", "--ctx-size", "4096"])
        #expect(text.stdout.contains("KV cache") && text.stdout.contains("requests: memory"))
        let bad = try await GemmactlBinary.run(["plan", "--cache-type-k", "q9"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--cache-type-k"))
        // A smaller micro-batch, as `serve -ub 128` would use, needs a smaller compute buffer.
        let small = try await GemmactlBinary.run(["plan", "-ub", "128", "--json"])
        let smallObject = try JSONSerialization.jsonObject(with: Data(small.stdout.utf8)) as? [String: Any]
        let usual = try JSONSerialization.jsonObject(with: Data(try await GemmactlBinary.run(["plan", "--json"]).stdout.utf8)) as? [String: Any]
        #expect((smallObject?["computeBytes"] as? Int ?? .max) < (usual?["computeBytes"] as? Int ?? 0))
        let zero = try await GemmactlBinary.run(["plan", "--ubatch-size", "0"])
        #expect(zero.status != 0 && zero.stderr.contains("--ubatch-size"))
    }

    @Test func planWithADraftModelSizesThePodForBoth() async throws {
        let model = try DefaultModel.path(in: .resolve(environment: ProcessInfo.processInfo.environment))
        func json(_ arguments: [String]) async throws -> [String: Any] {
            let result = try await GemmactlBinary.run(["plan", "--json"] + arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        }
        let alone = try await json([])
        let pod = try await json(["-md", model])
        let models = pod["models"] as? [[String: Any]] ?? []
        #expect(models.map { $0["name"] as? String } == [model, "draft"], "\(models)")
        let draft = models.last?["plan"] as? [String: Any] ?? [:]
        // The draft model has the served model's slots and context, and no embeddings context.
        #expect(draft["embeddingsBytes"] as? Int == 0 && draft["kvCacheBytes"] as? Int == alone["kvCacheBytes"] as? Int)
        let total = { (object: [String: Any]) in object["totalBytes"] as? Int ?? 0 }
        #expect(total(pod) == total(alone) + total(draft) - (pod["sharedProcessBytes"] as? Int ?? 0) && total(draft) > 0)
        let missing = try await GemmactlBinary.run(["plan", "-md", "/no/such/draft.gguf"])
        #expect(missing.status != 0 && missing.stderr.contains("--spec-draft-model /no/such/draft.gguf") && missing.stdout.isEmpty)
        let several = try await GemmactlBinary.run(["plan", "-m", "a=" + model, "-m", "b=" + model, "-md", model])
        #expect(several.status != 0 && several.stderr.contains("one -m"))
    }

    @Test func pullOfflineWithoutTheModelFails() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await GemmactlBinary.run(["pull", "org/repo:Q4_K_M", "--offline", "--cache-dir", directory.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("offline"))
        let models = try await GemmactlBinary.run(["models", "--json", "--cache-dir", directory.path])
        #expect(models.status == 0)
        #expect(models.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || models.stdout.contains("[]"))
    }
}
