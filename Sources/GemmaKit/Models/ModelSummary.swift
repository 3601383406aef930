import Foundation

/// What `gemmactl inspect` shows about a GGUF model: the architecture's hyper-parameters read
/// from the header, with the defaults llama.cpp applies where a key is absent.
public struct ModelSummary: Sendable, Equatable, Codable {
    public var path: String
    public var fileSize: UInt64
    public var ggufVersion: UInt32
    public var architecture: String
    public var name: String?
    /// Sum of the elements of every tensor.
    public var parameterCount: UInt64
    /// Bytes of tensor data (what the weights take in memory).
    public var weightBytes: UInt64
    /// `general.file_type` as llama.cpp names it (e.g. `Q4_K_M`), or the most common tensor type.
    public var fileType: String
    public var contextLength: Int?
    public var layers: Int
    public var embeddingSize: Int?
    public var heads: Int?
    public var kvHeads: Int?
    /// Size of one key head (`attention.key_length`, default embedding / heads).
    public var headSizeK: Int?
    public var headSizeV: Int?
    /// Tokens a sliding-window layer attends to; nil when the model has no sliding-window layers.
    public var slidingWindow: Int?
    /// One entry per layer: true for a sliding-window layer.
    public var slidingWindowLayers: [Bool]
    public var vocabularySize: Int?
    public var hasChatTemplate: Bool
    public var tensorCount: Int

    /// Pattern as text: `5 sliding : 1 global (every 6th layer global)`, or nil without sliding layers.
    public var slidingWindowPatternDescription: String? {
        guard slidingWindow != nil, slidingWindowLayers.contains(true) else { return nil }
        let global = slidingWindowLayers.enumerated().filter { !$0.element }.map(\.offset)
        let sliding = slidingWindowLayers.count - global.count
        var text = "\(sliding) sliding-window + \(global.count) global layers"
        if !global.isEmpty { text += " (global: \(global.map(String.init).joined(separator: ", ")))" }
        return text
    }

    public init(_ file: GGUFFile) throws(GGUFError) {
        // First: a later shard of a split model has no hyper-parameters, and should say so.
        let otherShards = try file.otherShards()
        guard let architecture = file.architecture else {
            throw GGUFError(.corrupt, path: file.path, "it has no general.architecture key")
        }
        func int(_ suffix: String) -> Int? { file.arch(suffix)?.intValue.flatMap { Int(exactly: $0) } }
        path = file.path
        fileSize = file.fileSize
        ggufVersion = file.version
        self.architecture = architecture
        name = file["general.name"]?.stringValue
        parameterCount = file.tensors.reduce(0) { $0 &+ $1.elementCount }
        weightBytes = file.tensorDataBytes
        tensorCount = file.tensors.count
        if let type = file["general.file_type"]?.intValue, let named = Self.fileTypeNames[type] {
            fileType = named
        } else {
            var bytesByType: [GGMLType: UInt64] = [:]
            for tensor in file.tensors { bytesByType[tensor.type, default: 0] += tensor.byteCount ?? 0 }
            fileType = bytesByType.max { $0.value < $1.value }.map { "\($0.key) (guessed)" } ?? "unknown"
        }
        contextLength = int("context_length")
        guard let blockCount = int("block_count"), blockCount >= 0, blockCount <= 10_000 else {
            throw GGUFError(.corrupt, path: file.path, "\(architecture).block_count is missing or out of range")
        }
        layers = blockCount
        let embedding = int("embedding_length")
        let headCount = Self.perLayerFirst(file.arch("attention.head_count"))
        embeddingSize = embedding
        heads = headCount
        kvHeads = Self.perLayerFirst(file.arch("attention.head_count_kv")) ?? headCount
        var defaultHead: Int?
        if let embedding, let headCount, headCount > 0 { defaultHead = embedding / headCount }
        headSizeK = int("attention.key_length") ?? defaultHead
        headSizeV = int("attention.value_length") ?? defaultHead
        let window = int("attention.sliding_window").flatMap { $0 > 0 ? $0 : nil }
        slidingWindow = window
        slidingWindowLayers = Self.slidingLayers(file: file, architecture: architecture, layers: blockCount,
                                                 window: window)
        if case .array(_, let count, _)? = file["tokenizer.ggml.tokens"] {
            vocabularySize = Int(count)
        } else {
            vocabularySize = int("vocab_size")
        }
        hasChatTemplate = file["tokenizer.chat_template"]?.stringValue.map { !$0.isEmpty } ?? false
        // Sizes and counts of a split model cover every shard.
        for part in otherShards {
            fileSize += part.fileSize
            parameterCount = part.tensors.reduce(parameterCount) { $0 &+ $1.elementCount }
            weightBytes += part.tensorDataBytes
            tensorCount += part.tensors.count
        }
    }

    /// Which layers use the sliding window, as llama.cpp decides it: a per-layer bool array, else a
    /// period n (`attention.sliding_window_pattern`, Gemma 3's default 6) where every n-th layer is global.
    static func slidingLayers(file: GGUFFile, architecture: String, layers: Int, window: Int?) -> [Bool] {
        guard window != nil else { return Array(repeating: false, count: layers) }
        let key = file.arch("attention.sliding_window_pattern")
        if case .array(_, let count, let preview)? = key, Int(count) == layers, preview.count == layers {
            return preview.map { value -> Bool in
                switch value {
                case .bool(let flag): return flag
                default: return (value.intValue ?? 0) != 0
                }
            }
        }
        let defaultPeriod: Int
        switch architecture {
        case "gemma3", "gemma3n", "gemma-embedding": defaultPeriod = 6
        case "gemma2", "cohere2": defaultPeriod = 2
        default: defaultPeriod = 0
        }
        let period = key?.intValue.flatMap { Int(exactly: $0) } ?? defaultPeriod
        return (0..<layers).map { period <= 0 || $0 % period < period - 1 }
    }

    private static func perLayerFirst(_ value: GGUFValue?) -> Int? {
        switch value {
        case .array(_, _, let preview)?: return preview.first?.intValue.flatMap { Int(exactly: $0) }
        case let value?: return value.intValue.flatMap { Int(exactly: $0) }
        case nil: return nil
        }
    }

    /// llama.cpp's `llama_ftype` names.
    static let fileTypeNames: [Int64: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
        11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
        18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S",
        25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
        32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
    ]
}

extension GGUFValue {
    /// The value as text for `inspect --metadata`: arrays show their length and first elements.
    public var displayText: String {
        switch self {
        case .uint(let v, _): return String(v)
        case .int(let v, _): return String(v)
        case .float(let v, _): return String(v)
        case .bool(let v): return String(v)
        case .string(let s):
            let flat = s.replacingOccurrences(of: "\n", with: "\\n")
            return flat.count > 120 ? "\"\(flat.prefix(117))...\" (\(s.utf8.count) bytes)" : "\"\(flat)\""
        case .array(let type, let count, let preview):
            let shown = preview.prefix(8).map(\.displayText).joined(separator: ", ")
            return "[\(type) × \(count)] [\(shown)\(count > 8 ? ", ..." : "")]"
        }
    }

    /// The value as JSON-compatible Foundation objects (arrays: their preview).
    public var jsonObject: Any {
        switch self {
        case .uint(let v, _): return v
        case .int(let v, _): return v
        case .float(let v, _): return v.isFinite ? v : String(v)
        case .bool(let v): return v
        case .string(let s): return s
        case .array(let type, let count, let preview):
            return ["type": type, "count": count, "preview": preview.map(\.jsonObject)] as [String: Any]
        }
    }
}
