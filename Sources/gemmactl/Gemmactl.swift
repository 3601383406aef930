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
              gemmactl render --profile llama-server --hostname llm.example.com | kubectl apply -f -
            """,
        version: GemmactlVersion.current,
        subcommands: [Generate.self, Render.self]
    )
}
