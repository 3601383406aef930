import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Slots: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the server's generation slots: which are busy and how far along.",
            discussion: """
                Reads /slots (gemmactl serve and llama-server; llama-server needs --slots) and prints \
                id, state, context size, prompt, cached and generated tokens and task id; missing fields \
                show as -. A server of several models (gemmactl serve -m A -m B, llama-server's router) \
                shows each loaded model's slots and every model's status. Against Ollama it lists the loaded \
                models from /api/ps.

                Examples:
                  gemmactl slots --url http://127.0.0.1:8000
                  gemmactl slots --watch --interval 1s
                  gemmactl slots --json | jq '.slots[] | select(.is_processing)'
                """
        )

        @OptionGroup var client: Flags.Client

        @Flag(help: "Redraw every --interval (in place on a terminal) until interrupted.")
        var watch = false

        @Option(help: ArgumentHelp("Time between redraws with --watch (default: 2s).", valueName: "duration"), transform: ArgumentValue.duration)
        var interval: Duration = .seconds(2)

        @Option(help: .hidden)
        var iterations: Int?

        func validate() throws {
            if let iterations, iterations < 1 { throw ValidationError("--iterations must be at least 1, got \(iterations)") }
        }

        func run() async throws {
            let endpoint = try client.endpoint()
            let redraw = watch && Console.stdoutIsTerminal && !client.json
            let rounds = watch ? (iterations ?? Int.max) : 1
            try await OpsClient.with(endpoint) { http in
                for round in 0..<rounds {
                    let snapshot = try await SlotsSnapshot.fetch(http)
                    let body = client.json ? snapshot.json : snapshot.table
                    if redraw {
                        // Home, draw, clear what is left of an older, longer table.
                        Console.write("\u{1B}[H\u{1B}[2J\(Date().formatted(date: .omitted, time: .standard))  \(endpoint.baseURL)\n\n\(body)\n")
                    } else {
                        Console.print(body)
                    }
                    if round + 1 < rounds { try await Task.sleep(for: interval) }
                }
            }
        }
    }
}
