import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct Render: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render Kubernetes manifests for a Gemma deployment.",
            discussion: """
                Values come from defaults < --values FILE < --set path=value < the flags below. \
                Profiles: gemmactl (default), llama-server, ollama, external-ollama.

                Examples:
                  gemmactl render | kubectl apply -f -
                  gemmactl render --profile llama-server --hostname llm.example.com --gateway eg/envoy-gateway-system
                  gemmactl render --values gemmactl.yaml --set server.ctxSize=8192 -o deploy/
                  gemmactl render --profile external-ollama --external-ip 192.168.1.50 --model llama3.2 --model mistral
                  gemmactl render --profile external-ollama --external-host ollama.example.ts.net --model llama3.2
                  gemmactl render --image registry.example.com/team/gemmactl   # tag: this gemmactl's version
                  gemmactl render --replicas 3 --set storage.perPod=true --hostname llm.example.com
                  gemmactl render --profile ollama --print-values
                  gemmactl render --model chat=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M --model embed=ggml-org/embeddinggemma-300M-GGUF:Q8_0
                """
        )

        @Option(name: .customLong("values"), help: ArgumentHelp("A YAML values file.", valueName: "file"))
        var valuesFile: String?

        @Option(name: .customLong("set"), help: ArgumentHelp("Set one value, as helm does (repeatable): server.ctxSize=8192, external.models={a,b}.", valueName: "path=value"))
        var sets: [String] = []

        @Option(help: "deployment layout: gemmactl, llama-server, ollama or external-ollama.")
        var profile: String?

        @Option(help: "Base name of every resource (a DNS-1123 label; default gemma).")
        var name: String?

        @Option(help: "Namespace of every resource (default gemma).")
        var namespace: String?

        @Option(help: ArgumentHelp("Image of the main container, e.g. ghcr.io/you/gemmactl:0.1.0 (values image.repository and image.tag; for the gemmactl profile the tag defaults to this gemmactl's version, \(GemmactlVersion.current)).", valueName: "image"))
        var image: String?

        @Option(help: "Hostname the HTTPRoute matches, e.g. llm.example.com.")
        var hostname: String?

        @Option(help: ArgumentHelp("The Gateway the HTTPRoute attaches to.", valueName: "name[/namespace]"))
        var gateway: String?

        @Option(name: .customLong("model"), help: "For gemmactl: a model the pod serves (repeatable, value model.list), [ALIAS=]ORG/REPO[:QUANT] or ollama://NAME:TAG; for external-ollama: a model to route (repeatable), MODEL or ROUTE=MODEL; for ollama: a model to pull (repeatable).")
        var models: [String] = []

        @Option(name: .customLong("external-ip"), help: "For external-ollama: the Ollama host's IP address (plain HTTP, port 11434).")
        var externalIP: String?

        @Option(name: .customLong("external-host"), help: "For external-ollama: the Ollama host's DNS name, reached over HTTPS on port 443 (e.g. an ngrok or Tailscale name).")
        var externalHost: String?

        @Flag(name: .customLong("legacy-endpoints"), help: "For external-ollama: render v1 Endpoints instead of an EndpointSlice.")
        var legacyEndpoints = false

        @Option(help: "Pods of the server (gemmactl profile: more than one runs behind an InferencePool and its endpoint picker; give each pod its model volume with --set storage.perPod=true, or use ReadWriteMany storage).")
        var replicas: Int?

        @Option(name: .customLong("ctx-size"), help: "Context size in tokens.")
        var ctxSize: Int?

        @Option(name: .customLong("memory-limit"), help: "Memory limit of the server container, e.g. 4Gi.")
        var memoryLimit: String?

        @Option(name: .customLong("cpu-limit"), help: "CPU limit of the server container, e.g. 2 or 1500m.")
        var cpuLimit: String?

        @Option(name: .customLong("storage-class"), help: "Storage class of the model volume, e.g. oci-bv.")
        var storageClass: String?

        @Option(name: .customLong("secret-source"), help: "external-secret (default), secret (needs --api-key-file) or none.")
        var secretSource: String?

        @Option(name: .customLong("api-key-file"), help: ArgumentHelp("For --secret-source secret: file holding the API key.", valueName: "file"))
        var apiKeyFile: String?

        @Option(help: ArgumentHelp("Templates directory (default: the ones shipped with gemmactl). [environment: GEMMACTL_TEMPLATES]", valueName: "dir"))
        var templates: String?

        @Option(name: .shortAndLong, help: ArgumentHelp("Write one file per resource and a kustomization.yaml into this directory instead of printing.", valueName: "dir"))
        var output: String?

        @Option(name: .customLong("plan-from"), help: ArgumentHelp("Size the server's memory and CPU with `gemmactl plan` for this GGUF (the model the pod runs) at the values' ctx-size and parallel; --memory-limit and --cpu-limit still win.", valueName: "model.gguf"))
        var planFrom: String?

        @Flag(name: .customLong("print-values"), help: "Print the effective values as YAML and exit.")
        var printValues = false

        /// Where model.list's models are looked up for their sizes and plan (never downloaded).
        @OptionGroup var cacheOption: Flags.Cache

        func run() async throws {
            var values = try ValuesLoader.load(file: valuesFile, sets: sets)
            if let planFrom {
                // Between the values and the flags: a plan replaces the values' resources, flags replace the plan.
                var options = values.planOptions
                if let ctxSize { options.contextSize = ctxSize }
                let plan = try MemoryPlanner.plan(path: planFrom, options: options)
                values.resources.requests.memory = plan.requestMemory
                values.resources.limits.memory = plan.limitMemory
                values.resources.requests.cpu = plan.requestCPU
                values.resources.limits.cpu = plan.limitCPU
            }
            applyFlags(to: &values)
            values = values.resolved()
            try values.validate()
            if values.servesModelList {
                guard planFrom == nil else {
                    throw ValidationError("--plan-from plans one model; with model.list render plans the listed models itself (drop --plan-from)")
                }
                try await planModelList(&values)
            }
            if printValues {
                print(try ValuesLoader.yaml(values), terminator: "")
                return
            }
            let apiKey = try readAPIKey(values)
            let renderer = ManifestRenderer(templatesDirectory: try TemplateLocator.directory(override: templates, environment: ProcessInfo.processInfo.environment))
            let manifests = try renderer.render(values, apiKey: apiKey)
            if let output {
                try ManifestRenderer.write(manifests, to: URL(fileURLWithPath: output))
                FileHandle.standardError.write(Data("wrote \(manifests.count) manifests and kustomization.yaml to \(output)\n".utf8))
            } else {
                FileHandle.standardOutput.write(Data(ManifestRenderer.stream(manifests).utf8))
            }
        }

        /// model.list: the volume checked against the models' sizes, and the server's resources from their plan
        /// (flags still win), each step said on stderr.
        func planModelList(_ values: inout RenderValues) async throws {
            let sizing = try await ModelListSizing.lookUp(values, cache: cacheOption.cache, environment: ProcessInfo.processInfo.environment)
            var notes = try sizing.checkVolume(values)
            if let pod = try sizing.plan(values) {
                values.resources.requests.memory = pod.requestMemory
                values.resources.requests.cpu = pod.requestCPU
                values.resources.limits.memory = memoryLimit ?? pod.limitMemory
                values.resources.limits.cpu = cpuLimit ?? pod.limitCPU
                let loaded = pod.modelsMax == pod.models.count ? "all \(pod.models.count) loaded" : "the \(pod.modelsMax) largest of \(pod.models.count) loaded"
                notes.append("resources from gemmactl plan for \(loaded): requests memory \(pod.requestMemory), limits memory \(values.resources.limits.memory)")
                if let limit = try? ByteSize.parse(values.resources.limits.memory), limit < pod.totalBytes {
                    notes.append("resources.limits.memory \(values.resources.limits.memory) is below the plan's \(ByteSize.format(pod.totalBytes)): serve will not load every model at once")
                }
            } else {
                notes.append("resources not planned (a model is not in the local cache): requests memory \(values.resources.requests.memory), limits memory \(values.resources.limits.memory) as the values give them")
            }
            for note in notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        }

        /// Flags win over the values file and --set.
        func applyFlags(to values: inout RenderValues) {
            if let profile { values.profile = profile }
            if let name { values.name = name }
            if let namespace { values.namespace = namespace }
            if let image { values.image.replace(with: image) }
            if let hostname { values.gateway.hostname = hostname }
            if let gateway {
                let parts = gateway.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                values.gateway.name = parts[0]
                if parts.count > 1 { values.gateway.namespace = parts[1] }
            }
            if !models.isEmpty {
                switch values.deploymentProfile {
                case .gemmactl: values.model.list = models
                case .ollama: values.model.ollama = models
                case .llamaServer, .externalOllama: values.external.models = models
                }
            }
            if let externalIP { values.external.ip = externalIP }
            if let externalHost { values.external.hostname = externalHost }
            if legacyEndpoints { values.external.legacyEndpoints = true }
            if let replicas { values.replicas = replicas }
            if let ctxSize { values.server.ctxSize = ctxSize }
            if let memoryLimit { values.resources.limits.memory = memoryLimit }
            if let cpuLimit { values.resources.limits.cpu = cpuLimit }
            if let storageClass { values.storage.storageClass = storageClass }
            if let secretSource { values.secret.source = secretSource }
            if let apiKeyFile { values.secret.apiKeyFile = apiKeyFile }
        }

        /// The key for `secret.source: secret`, read from the file and never printed.
        func readAPIKey(_ values: RenderValues) throws -> String? {
            guard values.secretSource == .secret, values.deploymentProfile != .externalOllama else { return nil }
            return try KeysFile.firstKey(path: values.secret.apiKeyFile, flag: "--api-key-file")
        }
    }
}
