import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Doctor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the troubleshooting checklist and print a finding and a fix for each check.",
            discussion: """
                Checks: server reachable, /health, API key accepted, slots stuck (processing with no progress \
                between two reads), the model and context size against --memory-limit, and, with kubectl on \
                PATH and --namespace/--selector, pod phase, restarts, OOMKilled, CrashLoopBackOff, image pulls, \
                PVCs bound and Secrets present. --stream-check sends one streamed chat request (through \
                --gateway-url when given) and reports the time to first byte and the largest gap between chunks.

                Exit codes: 0 every check passed (or was skipped), 1 a check failed.

                Examples:
                  gemmactl doctor --url http://127.0.0.1:8000 --memory-limit 4Gi -c 8192
                  gemmactl doctor --namespace llm --selector app.kubernetes.io/name=gemma --stream-check \\
                      --gateway-url https://llm.example.com
                  gemmactl doctor --json | jq '.findings[] | select(.status == "fail")'
                """
        )

        /// How doctor estimates memory: the same planner as `gemmactl plan`.
        static let memoryEstimator: any MemoryEstimating = PlannerMemoryEstimator()

        @OptionGroup var client: Flags.Client

        @Option(name: .customLong("memory-limit"), help: ArgumentHelp("The pod's memory limit to check against, e.g. 4Gi.", valueName: "quantity"),
                transform: ArgumentValue.byteSize)
        var memoryLimit: UInt64?

        /// The server's model and compute, as its flags or variables give them.
        @OptionGroup var slots: Flags.Slots

        @Option(help: ArgumentHelp("Kubernetes namespace of the server's pods (needs kubectl).", valueName: "namespace"))
        var namespace: String?

        @Option(name: [.short, .customLong("selector")], help: ArgumentHelp("Label selector of the server's pods (needs kubectl).", valueName: "selector"))
        var selector: String?

        @Flag(name: .customLong("stream-check"), help: "Send one streamed chat request and time it.")
        var streamCheck = false

        @Option(name: .customLong("gateway-url"), help: ArgumentHelp("Send the stream check through this URL (a gateway or ingress) instead of --url.", valueName: "url"))
        var gatewayURL: String?

        @Option(name: .customLong("stuck-interval"), help: ArgumentHelp("Time between the two reads of /slots (default: 2s).", valueName: "duration"),
                transform: ArgumentValue.duration)
        var stuckInterval: Duration = .seconds(2)

        func validate() throws {
            if gatewayURL != nil && !streamCheck { throw ValidationError("--gateway-url is used by --stream-check: add --stream-check") }
        }

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let compute = try slots.resolve(in: environment)
            let endpoint = try client.endpoint()
            var options = GemmaKit.Doctor.Options(endpoint: endpoint)
            if let gatewayURL {
                options.gateway = try ServerEndpoint(baseURL: gatewayURL, apiKey: endpoint.apiKey, timeout: endpoint.timeout,
                                                     insecure: endpoint.insecure, proxy: ProxySetting.fromEnvironment(for: gatewayURL, environment: environment))
            }
            options.memoryLimit = memoryLimit
            options.modelPath = compute.model
            options.modelCache = HubCache.resolve(environment: environment)
            options.contextSize = compute.contextSize
            options.parallel = compute.parallel
            options.namespace = namespace
            options.selector = selector
            options.streamCheck = streamCheck
            options.stuckInterval = stuckInterval
            let report = await GemmaKit.Doctor(options: options, estimator: Self.memoryEstimator).run()
            Console.print(client.json ? report.json : report.text)
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        }
    }
}
