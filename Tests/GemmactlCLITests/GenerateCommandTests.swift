import Foundation
import Testing

@Suite("gemmactl generate as a process")
struct GenerateCommandTests {
    @Test func generatesTextAndExitsZero() async throws {
        let result = try await GemmactlBinary.run(["generate", "--prompt", "The capital of France is", "--max-tokens", "8", "--temperature", "0"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(!result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }

    @Test func missingModelIsOneClearLineAndNonZeroExit() async throws {
        let result = try await GemmactlBinary.run(["generate", "--model", "/no/such/model.gguf", "--prompt", "hi"])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("/no/such/model.gguf"))
        #expect(result.stderr.contains("not found"))
    }

    @Test func badOptionValueNamesTheOption() async throws {
        let result = try await GemmactlBinary.run(["generate", "--prompt", "hi", "--max-tokens", "-3"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--max-tokens"))
    }
}
