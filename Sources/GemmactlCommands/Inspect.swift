import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a GGUF model's architecture, size and quantization.",
            discussion: """
                MODEL is a .gguf path, or a cached ORG/REPO[:QUANT] or ollama://NAME:TAG (default: the default model).

                Examples:
                  gemmactl inspect
                  gemmactl inspect ./gemma-3-1b-it-Q4_K_M.gguf --json
                  gemmactl inspect ggml-org/gemma-3-1b-it-GGUF:Q4_K_M --metadata
                """
        )

        @Argument(help: ArgumentHelp("Model file or cached model name.", valueName: "model"))
        var model: String?

        @OptionGroup var cacheOption: Flags.Cache

        @OptionGroup var output: Flags.JSONOutput

        @Flag(help: "Also print every metadata key and value.")
        var metadata = false

        func run() async throws {
            let path = try await ModelArgument.localPath(model, cacheDir: cacheOption.cacheDir, environment: ProcessInfo.processInfo.environment)
            let file = try GGUFFile(path: path)
            let summary = try ModelSummary(file)
            if output.json {
                var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(summary)) as? [String: Any] ?? [:]
                object["slidingWindowPattern"] = summary.slidingWindowPatternDescription
                if metadata {
                    object["metadata"] = Dictionary(file.metadata.map { ($0.key, $0.value.jsonObject) }) { a, _ in a }
                }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            func show(_ value: Int?) -> String { value.map(String.init) ?? "-" }
            let rows: [(String, String)] = [
                ("file", summary.path),
                ("size", "\(PullProgressPrinter.bytes(summary.fileSize)) (GGUF v\(summary.ggufVersion), \(summary.tensorCount) tensors)"),
                ("name", summary.name ?? "-"),
                ("architecture", summary.architecture),
                ("parameters", "\(Self.millions(summary.parameterCount)) (\(summary.parameterCount))"),
                ("file type", summary.fileType),
                ("weights", PullProgressPrinter.bytes(summary.weightBytes)),
                ("context length", show(summary.contextLength)),
                ("layers", String(summary.layers)),
                ("embedding size", show(summary.embeddingSize)),
                ("heads", show(summary.heads)),
                ("KV heads", show(summary.kvHeads)),
                ("head size", summary.headSizeK == summary.headSizeV ? show(summary.headSizeK)
                    : "K \(show(summary.headSizeK)), V \(show(summary.headSizeV))"),
                ("sliding window", summary.slidingWindow.map { "\($0) tokens" } ?? "none"),
                ("layer pattern", summary.slidingWindowPatternDescription ?? "all global"),
                ("vocabulary", show(summary.vocabularySize)),
                ("chat template", summary.hasChatTemplate ? "embedded" : "none"),
            ]
            for (label, value) in rows { print("\((label + ":").padding(toLength: 16, withPad: " ", startingAt: 0)) \(value)") }
            if metadata {
                print("\nmetadata (\(file.metadata.count) keys):")
                for (key, value) in file.metadata { print("  \(key) = \(value.displayText)") }
            }
        }

        static func millions(_ count: UInt64) -> String {
            count >= 1_000_000_000 ? String(format: "%.2fB", Double(count) / 1e9) : String(format: "%.1fM", Double(count) / 1e6)
        }
    }
}
