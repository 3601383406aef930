import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that a server is up, has loaded its model, and accepts the API key.",
            discussion: """
                Asks /health (Ollama: /api/version), then /v1/models with the key, and prints the status, \
                model and latency. Works against gemmactl serve, llama-server and Ollama. With --wait, \
                --timeout bounds the whole wait (each request gets at most 10s of it).

                Exit codes:
                  0  ready
                  1  loading or unhealthy
                  2  unreachable
                  3  API key rejected (or missing)

                Examples:
                  gemmactl health --url http://127.0.0.1:8000
                  GEMMA_API_KEY=$(cat key) gemmactl health --url https://llm.example.com --json
                  kubectl apply -f gemma.yaml && gemmactl health --wait --timeout 5m
                """
        )

        @OptionGroup var client: Flags.Client

        @Flag(help: "Poll until the server is ready (or --timeout passes, or the key is rejected).")
        var wait = false

        @Option(help: ArgumentHelp("Time between polls with --wait (default: 1s).", valueName: "duration"), transform: ArgumentValue.duration)
        var interval: Duration = .seconds(1)

        func run() async throws {
            let total = client.timeout
            // With --wait, --timeout bounds the whole wait; each request gets at most 10 s of it.
            let endpoint = try client.endpoint(timeout: wait ? min(total, .seconds(10)) : total)
            let json = client.json
            let report = try await OpsClient.with(endpoint) { http in
                let check = HealthCheck(client: http)
                guard wait else { return await check.run() }
                var last = ""
                return await check.wait(timeout: total, interval: interval) { report in
                    // One line per change of state, not per poll.
                    let line = "waiting: \(report.status.rawValue)\(report.detail.isEmpty ? "" : " (\(report.detail))")"
                    if !json && line != last { Console.info(line) }
                    last = line
                }
            }
            Console.print(json ? Console.json(report) : report.text)
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        }
    }
}
