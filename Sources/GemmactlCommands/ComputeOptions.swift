import ArgumentParser
import Foundation
import GemmaKit

extension Flags {
    /// The model and the compute it gets (`-m -c -np -t -b -ub -ngl`), as serve takes them; plan and
    /// doctor take the same, with the same defaults and variables (`ServeSettings`).
    struct Compute: ParsableArguments {
        @Option(ServeSettings.model) var model: String?
        @Option(ServeSettings.contextSize) var contextSize: Int?
        @Option(ServeSettings.parallel) var parallel: Int?
        @Option(ServeSettings.threads) var threads: Int?
        @Option(ServeSettings.batchSize) var batchSize: Int?
        @Option(ServeSettings.microBatchSize) var microBatchSize: Int?
        @Option(ServeSettings.gpuLayers) var gpuLayers: Int?

        /// Flags over the environment over the defaults.
        func resolve(in environment: [String: String]) throws -> ComputeSettings {
            let batchSize = try ServeSettings.batchSize.resolve(batchSize, in: environment)!
            return ComputeSettings(
                model: try ServeSettings.model.resolve(model, in: environment),
                contextSize: try ServeSettings.contextSize.resolve(contextSize, in: environment)!,
                parallel: try ServeSettings.parallel.resolve(parallel, in: environment)!,
                threads: try ServeSettings.threads.resolve(threads, in: environment) ?? CPUBudget.defaultThreads,
                batchSize: batchSize,
                microBatchSize: try ServeSettings.microBatchSize.resolve(microBatchSize, in: environment)
                    ?? ContextOptions(batchSize: batchSize).microBatchSize,
                gpuLayers: try ServeSettings.gpuLayers.resolve(gpuLayers, in: environment)!)
        }
    }
}

/// `Flags.Compute` resolved.
struct ComputeSettings {
    var model: String?
    var contextSize: Int
    var parallel: Int
    var threads: Int
    var batchSize: Int
    var microBatchSize: Int
    var gpuLayers: Int
}
