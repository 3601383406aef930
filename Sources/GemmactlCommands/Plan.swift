import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Plan the memory and CPU a model (or a pod serving several) needs for a context size and parallel requests.",
            discussion: """
                The plan follows llama.cpp's buffer sizes: weights (tensor bytes), KV cache per layer \
                (sliding-window layers included), compute buffers and the process's own overhead. \
                With several -m (as serve takes them, [ALIAS=]REF), each model is planned with the same \
                settings and the pod is sized for all of them loaded at once, or for the --models-max \
                largest; the process's own base is counted once. With -md (as serve takes it), the \
                draft model is planned beside the model it drafts for, with as many slots as long, and \
                no embeddings context.

                Examples:
                  gemmactl plan --ctx-size 8192 --parallel 4
                  gemmactl plan ./model.gguf --ctx-size 32768 --cache-type-k q8_0 --memory-limit 2Gi --json
                  gemmactl plan -m chat=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M -m embed=ggml-org/embeddinggemma-300M-GGUF:Q8_0
                  gemmactl plan -m a.gguf -m b.gguf -m c.gguf --models-max 2 --json
                  gemmactl plan -m ggml-org/gemma-3-4b-it-GGUF:Q4_K_M -md ggml-org/gemma-3-270m-it-GGUF:Q8_0
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

        @Option(name: .customLong("models-max"), help: ArgumentHelp("With several -m: size the pod for this many loaded at once, the largest (as serve --models-max; default: all).", valueName: "n"))
        var modelsMax: Int?

        @Option(name: .customLong("memory-limit"), help: "Memory limit to measure headroom against, e.g. 4Gi (default: the recommended limit).",
                transform: ArgumentValue.byteSize)
        var memoryLimit: UInt64?

        @Option(ServeSettings.specDraftModel) var draftModel: String?

        @OptionGroup var cacheOption: Flags.Cache

        @OptionGroup var output: Flags.JSONOutput

        func validate() throws {
            if model != nil && !slots.compute.models.isEmpty { throw ValidationError("name the model once: as the argument or with -m") }
            if let modelsMax, modelsMax < 1 { throw ValidationError("--models-max must be 1 or more, got \(modelsMax)") }
        }

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let compute = try slots.resolve(in: environment)
            let options = PlanOptions(contextSize: compute.contextSize, parallel: compute.parallel,
                                      cacheTypeK: try Self.cacheTypeK.resolve(cacheTypeK, in: environment),
                                      cacheTypeV: try Self.cacheTypeV.resolve(cacheTypeV, in: environment),
                                      microBatch: compute.microBatchSize,
                                      memoryLimit: memoryLimit)
            let specs = try slots.compute.models.map { try ModelSpec.parse($0) }
            if let draft = try ServeSettings.specDraftModel.resolve(draftModel, in: environment) {
                guard specs.count <= 1 else {
                    throw InputError("--spec-draft-model drafts for one model; plan it with one -m", recovery: "as serve takes it: one -m and its -md")
                }
                try await planWithDraft(draft, served: model ?? specs.first?.reference ?? compute.model, options: options, environment: environment)
                return
            }
            guard specs.count > 1 else {
                let path = try await ModelArgument.localPath(model ?? specs.first?.reference ?? compute.model, cacheDir: cacheOption.cacheDir, environment: environment)
                let plan = try MemoryPlanner.plan(path: path, options: options)
                if output.json {
                    try printJSON(plan)
                } else {
                    print(MemoryPlanReport.text(plan))
                }
                return
            }
            var plans: [(spec: ModelSpec, plan: MemoryPlan)] = []
            for spec in specs {
                // Each model planned alone, with memoryLimit left to the pod's plan.
                var own = options
                own.memoryLimit = nil
                plans.append((spec, try await Self.plan(spec, options: own, cacheDir: cacheOption.cacheDir, environment: environment)))
            }
            let pod = MemoryPlanner.plan(models: plans, modelsMax: modelsMax, memoryLimit: memoryLimit)
            if output.json {
                try printJSON(pod)
            } else {
                print(MemoryPlanReport.text(pod))
            }
        }

        /// The served model and its draft model, in one pod: both loaded, the draft without embeddings.
        private func planWithDraft(_ draft: String, served: String?, options: PlanOptions, environment: [String: String]) async throws {
            let path = try await ModelArgument.localPath(served, cacheDir: cacheOption.cacheDir, environment: environment)
            var own = options
            own.memoryLimit = nil
            var draftOptions = own
            draftOptions.servesEmbeddings = false
            let draftPlan: MemoryPlan
            do {
                let draftPath = try await ModelArgument.localPath(draft, cacheDir: cacheOption.cacheDir, environment: environment)
                draftPlan = try MemoryPlanner.plan(path: draftPath, options: draftOptions)
            } catch let error as any ActionableError {
                throw InputError("--spec-draft-model \(draft): \(error.message)", recovery: error.recovery)
            }
            let pod = MemoryPlanner.plan(models: [(ModelSpec(reference: served ?? path), try MemoryPlanner.plan(path: path, options: own)),
                                                  (ModelSpec(alias: "draft", reference: draft), draftPlan)],
                                         memoryLimit: memoryLimit)
            if output.json {
                try printJSON(pod)
            } else {
                print(MemoryPlanReport.text(pod))
            }
        }

        /// One model of several, found in the cache and planned; an error names the -m it came from.
        static func plan(_ spec: ModelSpec, options: PlanOptions, cacheDir: String?, environment: [String: String]) async throws -> MemoryPlan {
            do {
                let path = try await ModelArgument.localPath(spec.reference, cacheDir: cacheDir, environment: environment)
                return try MemoryPlanner.plan(path: path, options: options)
            } catch let error as any ActionableError {
                throw InputError("-m \(spec): \(error.message)", recovery: error.recovery)
            }
        }

        /// The plan as JSON, each plan's resources beside its bytes with the Kubernetes quantities
        /// (computed, so not encoded): `totalBytes`, `limitMemory`, … at the plan's own level.
        private func printJSON(_ value: some Encodable) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let object = try Self.flattened(JSONSerialization.jsonObject(with: encoder.encode(value)))
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }

        /// Every `resources` object merged into the object that holds it, with its quantities added.
        private static func flattened(_ json: Any) -> Any {
            if let array = json as? [Any] { return array.map(flattened) }
            guard var object = json as? [String: Any] else { return json }
            object = object.mapValues(flattened)
            if let resources = object.removeValue(forKey: "resources") as? [String: Any],
               let request = resources["requestMemoryBytes"] as? NSNumber, let limit = resources["limitMemoryBytes"] as? NSNumber {
                object.merge(resources) { _, new in new }
                object["requestMemory"] = MemoryPlanner.quantity(request.uint64Value)
                object["limitMemory"] = MemoryPlanner.quantity(limit.uint64Value)
            }
            return object
        }
    }
}
