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
}
