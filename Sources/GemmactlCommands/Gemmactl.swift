import ArgumentParser
import Foundation
import GemmaKit

/// The `gemmactl` command line; the executable only calls `runAsMain()`.
public struct Gemmactl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "gemmactl",
        abstract: "Serve, deploy and operate a small self-hosted LLM (Gemma 3 GGUF on llama.cpp).",
        discussion: """
            Examples:
              gemmactl generate --prompt "Why is the sky blue?" --chat
              gemmactl pull ggml-org/gemma-3-1b-it-GGUF:Q4_K_M
              gemmactl inspect
              gemmactl plan --ctx-size 8192 --parallel 4
              gemmactl render --profile llama-server --hostname llm.example.com | kubectl apply -f -
              gemmactl health --url http://127.0.0.1:8000 --wait --timeout 2m
              gemmactl --generate-completion-script bash > /etc/bash_completion.d/gemmactl
            """,
        version: GemmactlVersion.current,
        subcommands: [Serve.self, Generate.self, Pull.self, Models.self, Inspect.self, Plan.self, Render.self,
                      Health.self, Slots.self, RotateKey.self, Doctor.self]
    )

    public init() {}

    /// Parses, runs, and turns errors into one line on stderr and an exit code.
    public static func runAsMain() async {
        do {
            // First, before any ggml code: a portable build on a CPU below its floor would die with SIGILL.
            try CPUFloor.linked.checkThisCPU()
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as any ActionableError {
            FileHandle.standardError.write(Data("gemmactl: error: \(error.message)\(error.recovery.map { " (\($0))" } ?? "")\n".utf8))
            Foundation.exit(error.exitCode)
        } catch {
            exit(withError: error)
        }
    }
}
