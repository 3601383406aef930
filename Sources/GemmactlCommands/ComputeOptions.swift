import ArgumentParser
import Foundation
import GemmaKit

extension Flags {
    /// The model and the compute it gets (`-m -c -t -b -ub -ngl`), as serve takes them; generate
    /// takes these, serve, plan and doctor `Slots` (these and `-np`), with the same defaults,
    /// ranges and variables (`ServeSettings`).
    struct Compute: ParsableArguments {
        /// Every `-m` given, in order: plan sizes them together; a command that runs one model takes the last.
        @Option(repeating: ServeSettings.model) var models: [String]
        var model: String? { models.last }
        @Option(ServeSettings.contextSize) var contextSize: Int?
        @Option(ServeSettings.threads) var threads: Int?
        @Option(ServeSettings.batchSize) var batchSize: Int?
        @Option(ServeSettings.microBatchSize) var microBatchSize: Int?
        @Option(ServeSettings.gpuLayers) var gpuLayers: Int?

        /// Flags over the environment over the defaults, for one sequence.
        func resolve(in environment: [String: String]) throws -> ComputeSettings {
            typealias S = ServeSettings
            let batchSize = try S.batchSize.resolve(batchSize, in: environment)
            return ComputeSettings(
                model: try S.model.resolve(model, in: environment),
                contextSize: try S.contextSize.resolve(contextSize, in: environment),
                threads: try S.threads.resolve(threads, in: environment) ?? CPUBudget.defaultThreads,
                batchSize: batchSize,
                microBatchSize: try S.microBatchSize.resolve(microBatchSize, in: environment)
                    ?? ContextOptions(batchSize: batchSize).microBatchSize,
                gpuLayers: try S.gpuLayers.resolve(gpuLayers, in: environment))
        }
    }

    /// `Compute` and the slots that share the context (`-np`): what serve runs, plan plans and
    /// doctor checks.
    struct Slots: ParsableArguments {
        @OptionGroup var compute: Compute
        @Option(ServeSettings.parallel) var parallel: Int?

        var model: String? { compute.model }

        func resolve(in environment: [String: String]) throws -> ComputeSettings {
            var settings = try compute.resolve(in: environment)
            settings.parallel = try ServeSettings.parallel.resolve(parallel, in: environment)
            return settings
        }
    }
}

/// `Flags.Compute` or `Flags.Slots` resolved.
struct ComputeSettings {
    var model: String?
    var contextSize: Int
    var parallel = 1
    var threads: Int
    var batchSize: Int
    var microBatchSize: Int
    var gpuLayers: Int

    /// The llama context these settings describe.
    var context: ContextOptions {
        ContextOptions(contextSize: contextSize, sequences: parallel, batchSize: batchSize,
                       microBatchSize: microBatchSize, threads: threads)
    }
}
