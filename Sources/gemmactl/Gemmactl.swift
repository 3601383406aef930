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
              gemmactl health --url http://127.0.0.1:8000 --wait --timeout 2m
              gemmactl --generate-completion-script bash > /etc/bash_completion.d/gemmactl
            """,
        version: GemmactlVersion.current,
        subcommands: [Generate.self, Health.self, Slots.self, RotateKey.self, Doctor.self]
    )
}
