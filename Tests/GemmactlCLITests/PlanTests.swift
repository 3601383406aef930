import Foundation
import GemmaKit
import Testing

/// `gemmactl plan -m A -m B`: a pod serving several models, on the default model under two aliases.
@Suite("gemmactl plan with several models")
struct PlanTests {
    static func defaultModel() throws -> String {
        try DefaultModel.path(in: .resolve(environment: ProcessInfo.processInfo.environment))
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func twoAliasesAreSizedTogetherWithTheProcessBaseOnce() async throws {
        let model = try Self.defaultModel()
        let one = try Self.json(try await GemmactlBinary.run(["plan", "-m", model, "--ctx-size", "2048", "--json"]).stdout)
        let single = try #require(one["totalBytes"] as? Int)

        let result = try await GemmactlBinary.run(["plan", "-m", "chat=\(model)", "-m", "embed=\(model)", "--ctx-size", "2048", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let pod = try Self.json(result.stdout)
        let models = try #require(pod["models"] as? [[String: Any]])
        #expect(models.map { $0["name"] as? String } == ["chat", "embed"])
        #expect(models.allSatisfy { $0["counted"] as? Bool == true })
        #expect(pod["modelsMax"] as? Int == 2)
        let base = Int(MemoryPlanner.processBaseBytes)
        #expect(pod["sharedProcessBytes"] as? Int == base)
        #expect(pod["totalBytes"] as? Int == 2 * single - base)
        let request = try ByteSize.parse(try #require(pod["requestMemory"] as? String))
        let limit = try ByteSize.parse(try #require(pod["limitMemory"] as? String))
        #expect(request >= UInt64(2 * single - base) && limit > request)

        // At most one loaded at once: the pod needs what the largest needs alone.
        let capped = try Self.json(try await GemmactlBinary.run(["plan", "-m", "chat=\(model)", "-m", "embed=\(model)",
                                                                "--ctx-size", "2048", "--models-max", "1", "--json"]).stdout)
        #expect(capped["totalBytes"] as? Int == single)
        #expect((capped["models"] as? [[String: Any]])?.compactMap { $0["counted"] as? Bool } == [true, false])
        #expect(capped["limitMemory"] as? String == one["limitMemory"] as? String)
    }

    @Test func theTableNamesEachModelAndTheLimitToSet() async throws {
        let model = try Self.defaultModel()
        let result = try await GemmactlBinary.run(["plan", "-m", "chat=\(model)", "-m", "embed=\(model)", "--memory-limit", "256Mi"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("all 2 loaded at once"))
        #expect(result.stdout.contains("  chat ") && result.stdout.contains("  embed "))
        #expect(result.stdout.contains("OVER the limit"))
        #expect(result.stdout.contains("limits:   memory"))
    }

    @Test func oneModelWithAnAliasPlansAsWithout() async throws {
        let model = try Self.defaultModel()
        let plain = try await GemmactlBinary.run(["plan", "-m", model, "--json"])
        let aliased = try await GemmactlBinary.run(["plan", "-m", "chat=\(model)", "--json"])
        #expect(aliased.status == 0, "\(aliased.stderr)")
        #expect(aliased.stdout == plain.stdout)
    }

    @Test func aModelThatCannotBeReadIsNamed() async throws {
        let model = try Self.defaultModel()
        let missing = try await GemmactlBinary.run(["plan", "-m", "chat=\(model)", "-m", "embed=/nope/embed.gguf"])
        #expect(missing.status != 0)
        #expect(missing.stdout.isEmpty)
        #expect(missing.stderr.contains("-m embed=/nope/embed.gguf"))

        let uncached = try await GemmactlBinary.run(["plan", "-m", "chat=\(model)", "-m", "other=nobody/nothing-GGUF:Q4_K_M"])
        #expect(uncached.status != 0)
        #expect(uncached.stderr.contains("-m other=nobody/nothing-GGUF:Q4_K_M"))

        let alias = try await GemmactlBinary.run(["plan", "-m", "bad alias=\(model)", "-m", "chat=\(model)"])
        #expect(alias.status != 0)
        #expect(alias.stderr.contains("bad alias"))

        let zero = try await GemmactlBinary.run(["plan", "-m", "a=\(model)", "-m", "b=\(model)", "--models-max", "0"])
        #expect(zero.status != 0 && zero.stderr.contains("--models-max"))
    }
}
