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

        @OptionGroup var slots: Flags.Slots

        static let cacheTypeK = Setting<KVCacheType>(["--cache-type-k", "-ctk"], environment: ["LLAMA_ARG_CACHE_TYPE_K"],
            summary: "KV cache type for K: f16 or q8_0 (also f32, q4_0).", parse: KVCacheType.parse).defaulting(to: .f16)
        static let cacheTypeV = Setting<KVCacheType>(["--cache-type-v", "-ctv"], environment: ["LLAMA_ARG_CACHE_TYPE_V"],
            summary: "KV cache type for V (quantized V needs flash attention).", parse: KVCacheType.parse).defaulting(to: .f16)

        @Option(Self.cacheTypeK) var cacheTypeK: KVCacheType?
        @Option(Self.cacheTypeV) var cacheTypeV: KVCacheType?

        @Option(name: .customLong("memory-limit"), help: "Memory limit to measure headroom against, e.g. 4Gi (default: the recommended limit).",
                transform: ArgumentValue.byteSize)
        var memoryLimit: UInt64?

        @OptionGroup var cacheOption: Flags.Cache

        @OptionGroup var output: Flags.JSONOutput

        func validate() throws {
            if model != nil && slots.model != nil { throw ValidationError("name the model once: as the argument or with -m") }
        }

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let compute = try slots.resolve(in: environment)
            let path = try await ModelArgument.localPath(model ?? compute.model, cacheDir: cacheOption.cacheDir, environment: environment)
            let options = PlanOptions(contextSize: compute.contextSize, parallel: compute.parallel,
                                      cacheTypeK: try Self.cacheTypeK.resolve(cacheTypeK, in: environment),
                                      cacheTypeV: try Self.cacheTypeV.resolve(cacheTypeV, in: environment),
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
