import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Models: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the models in the shared cache.",
            discussion: """
                Examples:
                  gemmactl models
                  gemmactl models --json
                  gemmactl models rm ggml-org/gemma-3-1b-it-GGUF:gemma-3-1b-it-Q4_K_M.gguf
                """,
            subcommands: [List.self, Remove.self],
            defaultSubcommand: List.self
        )

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List cached models.")

            @OptionGroup var cacheOption: Flags.Cache

            @OptionGroup var output: Flags.JSONOutput

            func run() throws {
                let cache = cacheOption.cache
                let models = cache.listModels()
                if output.json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                    print(String(decoding: try encoder.encode(models), as: UTF8.self))
                    return
                }
                guard !models.isEmpty else {
                    print("no models in \(cache.root.path) (pull one with `gemmactl pull ORG/REPO:QUANT`)")
                    return
                }
                let rows = [["REPOSITORY", "FILE", "SIZE", "QUANT", "REVISION", "PATH"]] + models.map {
                    [$0.repo, $0.file, PullProgressPrinter.bytes($0.size), $0.quantization ?? "-",
                     $0.revision.count == 40 ? String($0.revision.prefix(12)) : $0.revision, $0.path]
                }
                let widths = (0..<6).map { column in rows.map { $0[column].count }.max() ?? 0 }
                for row in rows {
                    print(row.enumerated().map { index, cell in
                        index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                    }.joined(separator: "  "))
                }
            }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "rm", abstract: "Remove a cached repository, or one file of it (REPO:FILE or REPO:QUANT).")

            @Argument(help: ArgumentHelp("ORG/REPO or ORG/REPO:FILE.", valueName: "model"))
            var model: String

            @OptionGroup var cacheOption: Flags.Cache

            @OptionGroup var output: Flags.JSONOutput

            func validate() throws {
                let repo = model.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
                guard repo.split(separator: "/").count == 2 else {
                    throw ValidationError("name the model as ORG/REPO or ORG/REPO:FILE, got '\(model)'")
                }
            }

            func run() throws {
                let parts = model.split(separator: ":", maxSplits: 1).map(String.init)
                let cache = cacheOption.cache
                let removed = try cache.remove(repo: parts[0], file: parts.count > 1 ? parts[1] : nil)
                if output.json {
                    let data = try JSONSerialization.data(withJSONObject: ["removed": removed], options: [.sortedKeys, .withoutEscapingSlashes])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    removed.forEach { print("removed \($0)") }
                }
            }
        }
    }
}
