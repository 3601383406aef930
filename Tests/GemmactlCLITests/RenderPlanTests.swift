import Foundation
import GemmaKit
import Testing

@Suite("gemmactl render --plan-from")
struct RenderPlanTests {
    @Test func planSetsTheServerResourcesAndFlagsStillWin() async throws {
        let model = try DefaultModel.path(in: .resolve(environment: ProcessInfo.processInfo.environment))
        let planned = try await GemmactlBinary.run(["render", "--plan-from", model, "--ctx-size", "8192"])
        #expect(planned.status == 0, "\(planned.stderr)")
        let plan = try MemoryPlanner.plan(path: model, options: PlanOptions(contextSize: 8192, parallel: 2))
        #expect(planned.stdout.contains("memory: \"\(plan.limitMemory)\""))
        #expect(planned.stdout.contains("memory: \"\(plan.requestMemory)\""))
        #expect(!planned.stdout.contains("memory: \"4Gi\""))

        let overridden = try await GemmactlBinary.run(["render", "--plan-from", model, "--memory-limit", "3Gi"])
        #expect(overridden.stdout.contains("memory: \"3Gi\""))
    }

    @Test func missingModelIsAClearErrorWithNothingOnStdout() async throws {
        let result = try await GemmactlBinary.run(["render", "--plan-from", "/nope/model.gguf"])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("/nope/model.gguf"))
    }

    /// The default model, as model.list names it: found in the test cache.
    static let cached = "\(DefaultModel.repo):Q4_K_M"

    @Test func aModelListIsPlannedAsGemmactlPlanPlansItAndTheVolumeChecked() async throws {
        let rendered = try await GemmactlBinary.run(["render", "--model", "chat=\(Self.cached)", "--model", "embed=\(Self.cached)"])
        #expect(rendered.status == 0, "\(rendered.stderr)")
        // The values' context and slots (4096, 2), all loaded (fewer than serve's --models-max 4).
        let planned = try await GemmactlBinary.run(["plan", "-m", "chat=\(Self.cached)", "-m", "embed=\(Self.cached)",
                                                    "--ctx-size", "4096", "--parallel", "2", "--json"])
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any])
        let limit = try #require(plan["limitMemory"] as? String), request = try #require(plan["requestMemory"] as? String)
        #expect(rendered.stdout.contains("memory: \"\(limit)\"") && rendered.stdout.contains("memory: \"\(request)\""))
        #expect(rendered.stderr.contains("resources from gemmactl plan for all 2 loaded"))
        #expect(rendered.stdout.contains("- \"chat=\(Self.cached)\""))

        // At most one loaded: sized for one model; --memory-limit still wins.
        let one = try await GemmactlBinary.run(["render", "--model", "chat=\(Self.cached)", "--model", "embed=\(Self.cached)",
                                                "--set", "server.modelsMax=1", "--memory-limit", "3Gi", "--print-values"])
        #expect(one.status == 0, "\(one.stderr)")
        #expect(one.stdout.contains("memory: 3Gi") && one.stdout.contains("modelsMax: 1"))
        #expect(one.stderr.contains("the 1 largest of 2 loaded"))

        let small = try await GemmactlBinary.run(["render", "--model", "chat=\(Self.cached)", "--model", "other=\(Self.cached)",
                                                  "--set", "storage.size=200Mi"])
        #expect(small.status != 0 && small.stdout.isEmpty)
        #expect(small.stderr.contains("storage.size 200Mi cannot hold model.list: chat "), "\(small.stderr)")

        // Not in the cache: rendered with the values' resources, and said.
        let unknown = try await GemmactlBinary.run(["render", "--model", "chat=\(Self.cached)", "--model", "other=nobody/nothing-GGUF:Q4_K_M"])
        #expect(unknown.status == 0, "\(unknown.stderr)")
        #expect(unknown.stderr.contains("'other=nobody/nothing-GGUF:Q4_K_M' is not in the local cache"))
        #expect(unknown.stderr.contains("resources not planned") && unknown.stdout.contains("memory: \"4Gi\""))

        let model = try DefaultModel.path(in: .resolve(environment: ProcessInfo.processInfo.environment))
        let both = try await GemmactlBinary.run(["render", "--model", "chat=\(Self.cached)", "--plan-from", model])
        #expect(both.status != 0 && both.stderr.contains("--plan-from"))
    }

    @Test func pullTakesSeveralModels() async throws {
        let pulled = try await GemmactlBinary.run(["pull", Self.cached, Self.cached, "--offline"])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(pulled.stdout.split(separator: "\n").count == 2)
        let checksum = try await GemmactlBinary.run(["pull", Self.cached, Self.cached, "--sha256", String(repeating: "0", count: 64)])
        #expect(checksum.status != 0 && checksum.stderr.contains("--sha256"))
        let path = try await GemmactlBinary.run(["pull", Self.cached, "./local.gguf"])
        #expect(path.status != 0 && path.stderr.contains("./local.gguf") && path.stdout.isEmpty)
    }
}
