import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a model into the shared Hugging Face cache (also used by llama.cpp's -hf).",
            discussion: """
                The hub is ${HF_ENDPOINT:-https://huggingface.co}; the Ollama registry ${OLLAMA_REGISTRY:-https://registry.ollama.ai}. \
                An interrupted download resumes where it stopped when run again. Several models are pulled \
                one after another (what a pod serving several runs before the server starts).

                Examples:
                  gemmactl pull ggml-org/gemma-3-1b-it-GGUF:Q4_K_M
                  gemmactl pull --hf-repo ggml-org/gemma-3-1b-it-GGUF --hf-file gemma-3-1b-it-Q4_K_M.gguf
                  gemmactl pull ollama://gemma3:1b --json
                  gemmactl pull ggml-org/gemma-3-1b-it-GGUF:Q4_K_M ggml-org/embeddinggemma-300M-GGUF:Q8_0
                  HF_TOKEN=hf_... gemmactl pull google/gemma-3-1b-it-qat-q4_0-gguf:Q4_0
                """
        )

        @Argument(help: ArgumentHelp("ORG/REPO[:QUANT] or ollama://NAME[:TAG]; several pull each in turn.", valueName: "model"))
        var models: [String] = []

        @Option(name: .customLong("hf-repo"), help: "Hugging Face repository, ORG/REPO[:QUANT].")
        var hfRepo: String?

        @Option(name: .customLong("hf-file"), help: "File of the repository to download.")
        var hfFile: String?

        @Option(help: "Branch, tag or commit.")
        var revision: String = "main"

        @Option(help: "Expected sha256 of the file (default: the hub's LFS checksum).")
        var sha256: String?

        @OptionGroup var hub: Flags.Hub

        /// With --json: one JSON event per line on stdout.
        @OptionGroup var output: Flags.JSONOutput

        @Flag(name: .shortAndLong, help: "Print nothing but errors (and the path at the end).")
        var quiet = false

        func validate() throws {
            if !models.isEmpty && (hfRepo != nil || hfFile != nil) {
                throw ValidationError("pass either a model argument or --hf-repo/--hf-file, not both")
            }
            if models.isEmpty && hfRepo == nil {
                throw ValidationError("name a model: gemmactl pull ORG/REPO[:QUANT], ollama://NAME:TAG or --hf-repo ORG/REPO")
            }
            if models.count > 1, sha256 != nil {
                throw ValidationError("--sha256 checks one file: pull the models one at a time to give each its checksum")
            }
            if let sha256, sha256.count != 64 || !sha256.allSatisfy(\.isHexDigit) {
                throw ValidationError("--sha256 must be 64 hex digits, got '\(sha256)'")
            }
        }

        func run() async throws {
            // Every name checked before the first download starts.
            let references = models.isEmpty
                ? [try ModelReference(model: nil, hfRepo: hfRepo, hfFile: hfFile, revision: revision)]
                : try models.map { try ModelReference.parse($0, revision: revision, preferRepository: true) }
            for case .file(let path) in references {
                throw ValidationError("'\(path)' is a local file; pull takes ORG/REPO[:QUANT] or ollama://NAME:TAG")
            }
            let printer = PullProgressPrinter(style: PullProgressPrinter.automaticStyle(json: output.json, quiet: quiet))
            let resolver = ModelResolver(cache: hub.cache, settings: try hub.settings())
            for reference in references {
                let path = try await resolver.resolve(reference, sha256: sha256, progress: printer.handler)
                if !output.json { print(path) }
            }
        }
    }
}
