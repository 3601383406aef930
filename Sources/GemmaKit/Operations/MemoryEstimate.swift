import Foundation

/// How much memory a server needs for a model at a context size.
public struct MemoryEstimate: Sendable, Codable, Equatable {
    public var weightsBytes: UInt64
    public var kvCacheBytes: UInt64
    public var overheadBytes: UInt64
    /// Who made the estimate (e.g. "GGUF fallback estimate", "MemoryPlanner").
    public var source: String

    public init(weightsBytes: UInt64, kvCacheBytes: UInt64, overheadBytes: UInt64, source: String) {
        self.weightsBytes = weightsBytes; self.kvCacheBytes = kvCacheBytes; self.overheadBytes = overheadBytes; self.source = source
    }

    public var totalBytes: UInt64 { weightsBytes + kvCacheBytes + overheadBytes }
}

/// The seam `gemmactl doctor` estimates memory through: `PlannerMemoryEstimator` (`gemmactl plan`'s
/// numbers) by default; tests and other planners plug in their own.
public protocol MemoryEstimating: Sendable {
    /// - Parameters:
    ///   - contextSize: the server's total context (`-c`), shared by its `parallel` slots as llama-server does.
    func estimate(modelPath: String, contextSize: Int, parallel: Int) throws -> MemoryEstimate
}

/// The estimate `gemmactl plan` makes (`MemoryPlanner`), so doctor and plan agree.
public struct PlannerMemoryEstimator: MemoryEstimating {
    public init() {}

    public func estimate(modelPath: String, contextSize: Int, parallel: Int) throws -> MemoryEstimate {
        let plan = try MemoryPlanner.plan(path: modelPath, options: PlanOptions(contextSize: contextSize, parallel: parallel))
        return MemoryEstimate(weightsBytes: plan.weightsBytes, kvCacheBytes: plan.kvCacheBytes,
                              overheadBytes: plan.computeBytes + plan.embeddingsBytes + plan.overheadBytes, source: "as planned by gemmactl plan")
    }
}

/// An estimator from a closure, for plugging in a planner without a new type.
public struct ClosureMemoryEstimator: MemoryEstimating {
    let body: @Sendable (String, Int, Int) throws -> MemoryEstimate
    public init(_ body: @escaping @Sendable (_ modelPath: String, _ contextSize: Int, _ parallel: Int) throws -> MemoryEstimate) {
        self.body = body
    }
    public func estimate(modelPath: String, contextSize: Int, parallel: Int) throws -> MemoryEstimate {
        try body(modelPath, contextSize, parallel)
    }
}
