import ArgumentParser
import GemmaKit

@main
struct Gemmactl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemmactl",
        abstract: "Serve, deploy and operate a small self-hosted LLM (Gemma 3 GGUF on llama.cpp).",
        discussion: """
            Examples:
              gemmactl generate --prompt "Why is the sky blue?" --chat
              gemmactl pull ggml-org/gemma-3-1b-it-GGUF:Q4_K_M
              gemmactl inspect
              gemmactl plan --ctx-size 8192 --parallel 4
            """,
        version: GemmactlVersion.current,
        subcommands: [Generate.self, Pull.self, Models.self, Inspect.self, Plan.self]
    )
}
