import Foundation

/// KV cache element types the planner knows.
public enum KVCacheType: String, Sendable, CaseIterable, Codable {
    case f32, f16, q8_0, q4_0

    /// `--cache-type-k`/`-v`'s value, checked (a `Setting` parser: the message starts with "must be").
    public static func parse(_ text: String) throws(InputError) -> KVCacheType {
        guard let type = KVCacheType(rawValue: text) else {
            throw InputError("must be one of \(allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        return type
    }

    var ggmlType: GGMLType {
        switch self {
        case .f32: GGMLType(rawValue: 0)
        case .f16: GGMLType(rawValue: 1)
        case .q8_0: GGMLType(rawValue: 8)
        case .q4_0: GGMLType(rawValue: 2)
        }
    }
}

/// Settings a memory plan depends on; the defaults are the engine's (`LlamaContext`).
public struct PlanOptions: Sendable, Equatable {
    /// Total context in tokens (`--ctx-size`), shared between the `parallel` sequences.
    public var contextSize: Int
    /// Parallel sequences (`--parallel`).
    public var parallel: Int
    public var cacheTypeK: KVCacheType
    public var cacheTypeV: KVCacheType
    /// Physical micro-batch (`n_ubatch`), sizes the compute buffer.
    public var microBatch: Int
    /// Keep the full sliding-window cache (the engine does: `swa_full = true`).
    public var swaFull: Bool
    /// A memory limit to measure headroom against; nil: the recommended limit.
    public var memoryLimit: UInt64?
    /// Tokens one embeddings input may have (the engine's embeddings context, see `EmbeddingRunner`).
    public var embeddingContextSize: Int
    /// Whether the model may serve embeddings (a draft model never does: no embeddings context).
    public var servesEmbeddings: Bool

    public init(contextSize: Int = 4096, parallel: Int = 1, cacheTypeK: KVCacheType = .f16,
                cacheTypeV: KVCacheType = .f16, microBatch: Int = ContextOptions.defaultMicroBatchSize, swaFull: Bool = true,
                memoryLimit: UInt64? = nil, embeddingContextSize: Int = EngineOptions.defaultEmbeddingContextSize,
                servesEmbeddings: Bool = true) {
        self.embeddingContextSize = embeddingContextSize
        self.servesEmbeddings = servesEmbeddings
        self.contextSize = contextSize; self.parallel = parallel; self.cacheTypeK = cacheTypeK
        self.cacheTypeV = cacheTypeV; self.microBatch = microBatch; self.swaFull = swaFull
        self.memoryLimit = memoryLimit
    }
}

/// What a plan asks of the pod: its total against the memory limit, and the requests and limits to
/// set. Both plans read its fields as their own (`plan.totalBytes`).
public struct PodResources: Sendable, Equatable, Codable {
    public var totalBytes: UInt64
    public var limitBytes: UInt64
    /// `limitBytes - totalBytes`; negative when the plan does not fit.
    public var headroomBytes: Int64
    public var requestMemoryBytes: UInt64
    public var limitMemoryBytes: UInt64
    public var requestCPU: String
    public var limitCPU: String
    /// Kubernetes quantities (`Mi` units) for the recommendation.
    public var requestMemory: String { MemoryPlanner.quantity(requestMemoryBytes) }
    public var limitMemory: String { MemoryPlanner.quantity(limitMemoryBytes) }

    /// The resources for `total` bytes serving `parallel` sequences, against `memoryLimit` (nil: the
    /// recommended limit).
    init(total: UInt64, parallel: Int, memoryLimit: UInt64?) {
        totalBytes = total
        requestMemoryBytes = MemoryPlanner.roundUp(total, to: 16 << 20)
        limitMemoryBytes = max(MemoryPlanner.roundUp(UInt64(Double(total) * (1 + MemoryPlanner.limitMargin)), to: 64 << 20),
                               requestMemoryBytes)
        limitBytes = memoryLimit ?? limitMemoryBytes
        headroomBytes = Int64(limitBytes) - Int64(total)
        // Decoding is memory-bound: one core per two sequences is a fair request; burst to twice that.
        let cores = max(1, (parallel + 1) / 2)
        requestCPU = String(cores)
        limitCPU = String(min(8, max(2, cores * 2)))
    }
}

/// A memory and CPU plan for serving one model: what `gemmactl plan` prints and `render` uses.
@dynamicMemberLookup
public struct MemoryPlan: Sendable, Equatable, Codable {
    public struct KVLayerGroup: Sendable, Equatable, Codable {
        /// `global` or `sliding-window`.
        public var kind: String
        public var layers: Int
        /// Cells per sequence (stream) in this group's cache.
        public var cellsPerSequence: Int
        public var bytes: UInt64
    }

    public var model: String
    public var contextSize: Int
    /// Context one sequence gets (llama.cpp: ctx padded to 256, split between sequences, padded again).
    public var contextPerSequence: Int
    public var parallel: Int
    public var cacheTypeK: String
    public var cacheTypeV: String
    public var weightsBytes: UInt64
    public var kvCacheBytes: UInt64
    public var kvGroups: [KVLayerGroup]
    public var computeBytes: UInt64
    /// The embeddings context, made on the first embeddings request: its KV cache and the
    /// buffers of one chunk (llama.cpp keeps logits for every token of an embeddings batch).
    public var embeddingsBytes: UInt64
    public var overheadBytes: UInt64
    /// What the prompt cache may grow to under `limitBytes` when `--cache-ram` is left to its
    /// default: half of the headroom (at most llama-server's 8 GiB), so it never takes the pod over.
    public var promptCacheBytes: UInt64
    public var resources: PodResources

    public subscript<Value>(dynamicMember field: KeyPath<PodResources, Value>) -> Value { resources[keyPath: field] }
}

/// The plan of a pod whose one server holds several models (`gemmactl plan -m A -m B`, `render`'s
/// `model.list`): each model's own plan, and the pod sized for the `modelsMax` largest loaded at once.
@dynamicMemberLookup
public struct PodMemoryPlan: Sendable, Equatable, Codable {
    public struct Model: Sendable, Equatable, Codable {
        /// `[ALIAS=]REF` as given.
        public var spec: String
        /// The alias, else the reference.
        public var name: String
        public var plan: MemoryPlan
        /// Whether the pod's total counts it: it is among the `modelsMax` largest.
        public var counted: Bool
    }

    public var models: [Model]
    /// The most models loaded at once that the total is sized for (`--models-max`, at most the models given).
    public var modelsMax: Int
    /// The process's own base, in every model's overhead but paid once: taken off the sum.
    public var sharedProcessBytes: UInt64
    public var resources: PodResources

    public subscript<Value>(dynamicMember field: KeyPath<PodResources, Value>) -> Value { resources[keyPath: field] }
}

/// Plans memory from GGUF metadata, following how the pinned llama.cpp sizes its buffers:
///
/// - weights: the tensor data (memory-mapped; every page is touched while running, so it counts in RSS);
/// - KV cache: `n_ctx` padded to 256; with `kv_unified = false` each of `parallel` streams holds
///   `pad(n_ctx / parallel, 256)` cells; every layer stores `kv_heads × key_length` K and
///   `kv_heads × value_length` V elements per cell. Sliding-window layers hold the same cells when
///   `swa_full` (the engine's setting), else `pad(min(n_ctx_seq, window + n_ubatch), 256)`;
/// - compute: the graph's activations for one micro-batch (`n_ubatch × (2·n_ff + 2·n_embd + 2·n_head·head) × 4 B`),
///   the attention mask (`n_ctx_seq × n_ubatch × 4 B`) and the logits output (`n_vocab × parallel × 4 B`);
/// - embeddings: the embeddings context, one sequence of `embeddingContextSize` cells in every
///   layer, plus per `EmbeddingRunner.chunkSize` tokens their logits twice (output buffer and graph)
///   and their activations;
/// - overhead: the process itself (Swift runtime, llama.cpp and ggml code, threads) plus the
///   tokenizer tables (`n_vocab × 160 B`), calibrated with scripts/check-plan.
public enum MemoryPlanner {
    /// Bytes of the process before any model (runtime, libraries, thread stacks), measured.
    public static let processBaseBytes: UInt64 = 48 << 20
    /// Bytes per vocabulary entry in llama.cpp's tokenizer tables, measured.
    public static let bytesPerVocabularyEntry: UInt64 = 160
    /// Fraction added on top of the plan for the recommended limit.
    public static let limitMargin = 0.25

    public static func plan(_ summary: ModelSummary, feedForward: Int? = nil,
                            options: PlanOptions) -> MemoryPlan {
        let parallel = max(1, options.parallel)
        let nCtx = pad(max(1, options.contextSize), 256)
        let perSequence = pad(max(1, nCtx / parallel), 256)
        let kvHeads = summary.kvHeads ?? summary.heads ?? 1
        let keyElements = UInt64(kvHeads * (summary.headSizeK ?? 0))
        let valueElements = UInt64(kvHeads * (summary.headSizeV ?? 0))
        let cellBytes = (options.cacheTypeK.ggmlType.byteCount(elements: keyElements) ?? keyElements * 2)
            + (options.cacheTypeV.ggmlType.byteCount(elements: valueElements) ?? valueElements * 2)

        let slidingLayers = summary.slidingWindowLayers.filter { $0 }.count
        let globalLayers = summary.layers - slidingLayers
        var groups: [MemoryPlan.KVLayerGroup] = []
        if globalLayers > 0 {
            groups.append(.init(kind: "global", layers: globalLayers, cellsPerSequence: perSequence,
                                bytes: UInt64(globalLayers) * UInt64(perSequence * parallel) * cellBytes))
        }
        if slidingLayers > 0 {
            let window = summary.slidingWindow ?? perSequence
            let cells = options.swaFull ? perSequence : pad(min(perSequence, window + options.microBatch), 256)
            groups.append(.init(kind: "sliding-window", layers: slidingLayers, cellsPerSequence: cells,
                                bytes: UInt64(slidingLayers) * UInt64(cells * parallel) * cellBytes))
        }
        let kvBytes = groups.reduce(0) { $0 + $1.bytes }

        let embedding = UInt64(summary.embeddingSize ?? 0)
        let ff = UInt64(feedForward ?? Int(embedding) * 4)
        let attention = UInt64((summary.heads ?? 0) * (summary.headSizeK ?? 0))
        let ubatch = UInt64(max(1, options.microBatch))
        let vocabulary = UInt64(summary.vocabularySize ?? 0)
        let activations = ubatch * (2 * ff + 2 * embedding + 2 * attention) * 4
        let mask = UInt64(perSequence) * ubatch * 4
        let logits = vocabulary * UInt64(parallel) * 4
        let compute = activations + mask + logits

        let chunk = UInt64(EmbeddingRunner.chunkSize)
        let embeddingCells = UInt64(pad(max(1, options.embeddingContextSize), 256))
        let embeddings = !options.servesEmbeddings ? 0 : UInt64(summary.layers) * embeddingCells * cellBytes
            + chunk * (2 * vocabulary + embedding) * 4
            + chunk * (2 * ff + 2 * embedding + 2 * attention) * 4 + embeddingCells * chunk * 4

        let overhead = processBaseBytes + vocabulary * bytesPerVocabularyEntry
        let total = summary.weightBytes + kvBytes + compute + embeddings + overhead
        let resources = PodResources(total: total, parallel: parallel, memoryLimit: options.memoryLimit)
        let limit = resources.limitBytes
        return MemoryPlan(
            model: summary.path, contextSize: nCtx, contextPerSequence: perSequence, parallel: parallel,
            cacheTypeK: options.cacheTypeK.rawValue, cacheTypeV: options.cacheTypeV.rawValue,
            weightsBytes: summary.weightBytes, kvCacheBytes: kvBytes, kvGroups: groups, computeBytes: compute,
            embeddingsBytes: embeddings, overheadBytes: overhead,
            promptCacheBytes: limit > total ? UInt64(MemoryBudget.defaultPromptCacheMiB(limit: limit, resident: total)) << 20 : 0,
            resources: resources)
    }

    /// Plans a pod whose one server holds several models, each planned on its own (`plan(path:options:)`
    /// with the same settings): sized for the `modelsMax` largest loaded at once (nil: all of them), with
    /// the process's own base counted once.
    public static func plan(models: [(spec: ModelSpec, plan: MemoryPlan)], modelsMax: Int? = nil,
                            memoryLimit: UInt64? = nil) -> PodMemoryPlan {
        let loaded = min(models.count, max(1, modelsMax ?? models.count))
        let largest = Set(models.indices.sorted { models[$0].plan.totalBytes > models[$1].plan.totalBytes }.prefix(loaded))
        let entries = models.enumerated().map { index, model in
            PodMemoryPlan.Model(spec: model.spec.description, name: model.spec.name, plan: model.plan,
                                counted: largest.contains(index))
        }
        let shared = UInt64(max(0, largest.count - 1)) * processBaseBytes
        let total = largest.reduce(0) { $0 + models[$1].plan.totalBytes } - shared
        let resources = PodResources(total: total, parallel: largest.map { models[$0].plan.parallel }.max() ?? 1,
                                     memoryLimit: memoryLimit)
        return PodMemoryPlan(models: entries, modelsMax: loaded, sharedProcessBytes: shared, resources: resources)
    }

    /// Plans for a GGUF file on disk.
    public static func plan(path: String, options: PlanOptions) throws(GGUFError) -> MemoryPlan {
        let file = try GGUFFile(path: path)
        let summary = try ModelSummary(file)
        let feedForward = file.arch("feed_forward_length").flatMap { value -> Int? in
            if case .array(_, _, let preview) = value { return preview.first?.intValue.map(Int.init) }
            return value.intValue.map(Int.init)
        }
        return plan(summary, feedForward: feedForward, options: options)
    }

    static func pad(_ value: Int, _ multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }

    static func roundUp(_ value: UInt64, to multiple: UInt64) -> UInt64 { (value + multiple - 1) / multiple * multiple }

    /// A Kubernetes memory quantity in whole MiB (`Mi`), or `Gi` when exact.
    public static func quantity(_ bytes: UInt64) -> String {
        let mib = (bytes + (1 << 20) - 1) >> 20
        return mib % 1024 == 0 && mib > 0 ? "\(mib / 1024)Gi" : "\(mib)Mi"
    }
}

/// The text breakdown `gemmactl plan` prints.
public enum MemoryPlanReport {
    private static func mib(_ bytes: UInt64) -> String { String(format: "%8.1f MiB", Double(bytes) / 1_048_576) }

    /// A bar of `bytes` against `limit`, 40 characters wide.
    private static func bar(_ bytes: UInt64, of limit: UInt64) -> String {
        let width = 40
        let filled = min(width, Int((Double(bytes) / Double(max(limit, 1)) * Double(width)).rounded()))
        return String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
    }

    private static func percent(_ bytes: UInt64, of limit: UInt64) -> String {
        String(format: "%5.1f%%", Double(bytes) * 100 / Double(max(limit, 1)))
    }

    /// The total, the headroom (or how far over) and the recommended resources, for one model or a pod of several.
    private static func summary(_ resources: PodResources, promptCache: UInt64?) -> [String] {
        let (total, limit, headroom) = (resources.totalBytes, resources.limitBytes, resources.headroomBytes)
        var lines = ["  total     \(mib(total)) \(percent(total, of: limit))"]
        if headroom >= 0 {
            let bytes = UInt64(headroom)
            lines.append("  headroom  \(mib(bytes)) \(percent(bytes, of: limit)) \(bar(bytes, of: limit))")
            if let promptCache {
                lines.append("    of which the prompt cache (--cache-ram default) may use up to \(mib(promptCache).trimmingCharacters(in: .whitespaces))")
            }
        } else {
            lines.append("  OVER the limit by \(mib(UInt64(-headroom)).trimmingCharacters(in: .whitespaces)): lower --ctx-size or --parallel, or raise the limit")
        }
        return lines + [
            "",
            "recommended resources:",
            "  requests: memory \(resources.requestMemory), cpu \(resources.requestCPU)",
            "  limits:   memory \(resources.limitMemory), cpu \(resources.limitCPU)",
        ]
    }

    /// The pod's plan: one row per model (those the total leaves out marked), then the total against the limit.
    public static func text(_ pod: PodMemoryPlan) -> String {
        let limit = pod.limitBytes
        let first = pod.models.first?.plan
        let loaded = pod.modelsMax == pod.models.count
            ? "all \(pod.models.count) loaded at once"
            : "at most \(pod.modelsMax) of \(pod.models.count) loaded at once (--models-max): sized for the \(pod.modelsMax) largest"
        let width = max(5, pod.models.map(\.name.count).max() ?? 0)
        func cell(_ text: String) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        let columns = ["weights", "KV cache", "compute", "embedding", "overhead", "total"]
        var lines = [
            "models:    \(loaded)",
            first.map { "context:   \($0.contextSize) tokens = \($0.parallel) × \($0.contextPerSequence) per sequence, for each model; KV cache K \($0.cacheTypeK), V \($0.cacheTypeV)" } ?? "",
            "",
            "  \(cell("model"))" + columns.map { $0.leftPadded(to: 13) }.joined(),
        ]
        for model in pod.models {
            let plan = model.plan
            let bytes = [plan.weightsBytes, plan.kvCacheBytes, plan.computeBytes, plan.embeddingsBytes, plan.overheadBytes, plan.totalBytes]
            lines.append("  \(cell(model.name))" + bytes.map { mib($0).leftPadded(to: 13) }.joined()
                         + (model.counted ? "" : "  (not counted: smaller than the \(pod.modelsMax) counted)"))
        }
        for model in pod.models {
            lines.append("    \(cell(model.name)) \(model.plan.model)")
        }
        if pod.sharedProcessBytes > 0 {
            lines.append("  the process's own base, in each model's overhead, is counted once: -\(mib(pod.sharedProcessBytes).trimmingCharacters(in: .whitespaces))")
        }
        lines += ["", "memory against a limit of \(MemoryPlanner.quantity(limit)):"]
        lines += summary(pod.resources, promptCache: nil)
        return lines.joined(separator: "\n")
    }

    public static func text(_ plan: MemoryPlan) -> String {
        let limit = plan.limitBytes
        func bar(_ bytes: UInt64) -> String { Self.bar(bytes, of: limit) }
        func percent(_ bytes: UInt64) -> String { Self.percent(bytes, of: limit) }
        var lines = [
            "model:     \(plan.model)",
            "context:   \(plan.contextSize) tokens = \(plan.parallel) × \(plan.contextPerSequence) per sequence; KV cache K \(plan.cacheTypeK), V \(plan.cacheTypeV)",
            "",
            "memory against a limit of \(MemoryPlanner.quantity(plan.limitBytes)):",
        ]
        let rows: [(String, UInt64)] = [("weights", plan.weightsBytes), ("KV cache", plan.kvCacheBytes),
                                         ("compute", plan.computeBytes), ("embedding", plan.embeddingsBytes),
                                         ("overhead", plan.overheadBytes)]
        for (label, bytes) in rows {
            lines.append("  \(label.padding(toLength: 9, withPad: " ", startingAt: 0)) \(mib(bytes)) \(percent(bytes)) \(bar(bytes))")
        }
        for group in plan.kvGroups {
            lines.append("    \(group.layers) \(group.kind) layers × \(group.cellsPerSequence) cells × \(plan.parallel) seq: \(mib(group.bytes).trimmingCharacters(in: .whitespaces))")
        }
        lines += summary(plan.resources, promptCache: plan.promptCacheBytes)
        return lines.joined(separator: "\n")
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
