import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Plan the memory and CPU a model needs to serve a context size and parallel requests.",
            discussion: """
                The plan follows llama.cpp's buffer sizes: weights (tensor bytes), KV cache per layer
                (sliding-window layers included), compute buffers and the process's own overhead.

                Examples:
                  gemmactl plan --ctx-size 8192 --parallel 4
                  gemmactl plan ./model.gguf --ctx-size 32768 --cache-type-k q8_0 --memory-limit 2Gi --json
                """
        )

        @Argument(help: ArgumentHelp("Model file or cached model name, as -m (default: the default model).", valueName: "model"))
        var model: String?

        @OptionGroup var compute: Flags.Compute

        @Option(name: .customLong("cache-type-k"), help: "KV cache type for K: f16 or q8_0 (also f32, q4_0).")
        var cacheTypeK: String = "f16"

        @Option(name: .customLong("cache-type-v"), help: "KV cache type for V (quantized V needs flash attention).")
        var cacheTypeV: String = "f16"

        @Option(name: .customLong("memory-limit"), help: "Memory limit to measure headroom against, e.g. 4Gi (default: the recommended limit).",
                transform: ArgumentValue.byteSize)
        var memoryLimit: UInt64?

        @OptionGroup var cacheOption: Flags.Cache

        @OptionGroup var output: Flags.JSONOutput

        func validate() throws {
            if model != nil && compute.model != nil { throw ValidationError("name the model once: as the argument or with -m") }
            guard KVCacheType(rawValue: cacheTypeK) != nil else {
                throw ValidationError("--cache-type-k must be one of \(KVCacheType.allCases.map(\.rawValue).joined(separator: ", ")), got '\(cacheTypeK)'")
            }
            guard KVCacheType(rawValue: cacheTypeV) != nil else {
                throw ValidationError("--cache-type-v must be one of \(KVCacheType.allCases.map(\.rawValue).joined(separator: ", ")), got '\(cacheTypeV)'")
            }
        }

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let compute = try self.compute.resolve(in: environment)
            guard compute.contextSize >= 16 else { throw ValidationError("--ctx-size must be at least 16, got \(compute.contextSize)") }
            guard (1...256).contains(compute.parallel) else { throw ValidationError("--parallel must be 1 to 256, got \(compute.parallel)") }
            guard compute.microBatchSize >= 1 else { throw ValidationError("--ubatch-size must be at least 1, got \(compute.microBatchSize)") }
            let path = try await ModelArgument.localPath(model ?? compute.model, cacheDir: cacheOption.cacheDir, environment: environment)
            let options = PlanOptions(contextSize: compute.contextSize, parallel: compute.parallel,
                                      cacheTypeK: KVCacheType(rawValue: cacheTypeK)!, cacheTypeV: KVCacheType(rawValue: cacheTypeV)!,
                                      microBatch: compute.microBatchSize,
                                      memoryLimit: memoryLimit)
            let plan = try MemoryPlanner.plan(path: path, options: options)
            if output.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                var object = try JSONSerialization.jsonObject(with: encoder.encode(plan)) as? [String: Any] ?? [:]
                object["requestMemory"] = plan.requestMemory
                object["limitMemory"] = plan.limitMemory
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print(MemoryPlanReport.text(plan))
        }
    }
}
