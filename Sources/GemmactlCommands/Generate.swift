import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a completion for one prompt and print it as it is generated.",
            discussion: """
                Examples:
                  gemmactl generate --prompt "The capital of France is" --max-tokens 8 --temperature 0
                  gemmactl generate --chat --prompt "Write a haiku about Kubernetes." --seed 7
                """
        )

        @OptionGroup var compute: Flags.Compute
        @OptionGroup var logging: Flags.Logging

        @Option(name: .shortAndLong, help: "The prompt text.")
        var prompt: String

        @Option(name: [.customLong("max-tokens"), .customShort("n")], help: "Most tokens to generate.")
        var maxTokens: Int = 128

        @Option(help: "Sampling temperature; 0 is greedy and deterministic.")
        var temperature: Double = 0.8

        @Option(help: "Random seed for sampling.")
        var seed: UInt32?

        @Option(name: .customLong("stop"), help: "Stop when this text is generated (repeatable).")
        var stop: [String] = []

        @Flag(help: "Format the prompt as a user turn with the model's chat template.")
        var chat = false

        func validate() throws {
            guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be 0 or more, got \(maxTokens)") }
        }

        func run() async throws {
            try logging.bootstrap(default: .warning)
            let environment = ProcessInfo.processInfo.environment
            let compute = try self.compute.resolve(in: environment)
            let path = try compute.model ?? DefaultModel.path(in: HubCache.resolve(environment: environment))
            let loaded = try LlamaModel(path: path, options: ModelLoadOptions(gpuLayers: compute.gpuLayers))
            let engine = try await InferenceEngine.start(model: loaded, options: EngineOptions(context: compute.context))
            try await engine.use { try await generate(on: $0, model: loaded) }
        }

        private func generate(on engine: InferenceEngine, model loaded: LlamaModel) async throws {
            let text = chat ? try ChatFormatter(model: loaded).format([ChatMessage(role: "user", content: prompt)]) : prompt
            var sampling = SamplingParameters(temperature: temperature, seed: seed)
            if temperature == 0 { sampling = .greedy }
            let request = GenerationRequest(prompt: loaded.tokenize(text, addSpecial: true, parseSpecial: chat),
                                            sampling: sampling, maxTokens: maxTokens, stop: stop)
            let output = FileHandle.standardOutput
            for try await event in try engine.generate(request) {
                if case .text(let piece, _, _) = event { output.write(Data(piece.utf8)) }
            }
            output.write(Data("\n".utf8))
        }
    }
}
