import Foundation
import Testing
import Yams
@testable import GemmaKit

/// The repository's templates/ directory: what the golden files were reviewed against.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let renderer = ManifestRenderer(templatesDirectory: repoRoot.appendingPathComponent("templates"))
private let goldenDirectory = repoRoot.appendingPathComponent("Tests/GemmaKitTests/Golden")

/// The scenarios with golden files: every profile, and the options that change a profile's shape.
enum RenderScenario: String, CaseIterable {
    case gemmactl
    case gemmactlPodValues = "gemmactl-pod-values"
    case llamaServer = "llama-server"
    case ollama
    case externalOllama = "external-ollama"
    case externalOllamaLegacy = "external-ollama-legacy"
    case externalOllamaTLS = "external-ollama-tls"
    case gemmactlPool = "gemmactl-pool"
    case gemmactlPoolKEDA = "gemmactl-pool-keda"
    case gemmactlModels = "gemmactl-models"

    var values: RenderValues {
        var values = RenderValues()
        switch self {
        case .gemmactl:
            break
        case .gemmactlPodValues:
            values.createNamespace = false
            values.replicas = 2
            values.storage.accessMode = "ReadWriteMany"
            values.image.repository = "registry.example.com/team/gemmactl"
            values.server.readinessCheck = "slots"
            values.server.shutdownGraceSeconds = 45
            values.server.extraArgs = ["--metrics-port", "9090"]
            values.server.extraEnv = [
                .init(name: "HF_TOKEN", valueFrom: .init(secretKeyRef: .init(name: "hf-token", key: "token"))),
                .init(name: "LOG_FORMAT", value: "json"),
            ]
            values.commonLabels = ["team": "ml"]
            values.podLabels = ["app": "gemma"]
            values.podAnnotations = ["prometheus.io/scrape": "true"]
            values.nodeArch = "arm64"
            values.nodeSelector = ["node.kubernetes.io/instance-type": "VM.Standard.A1.Flex"]
            values.tolerations = [.init(key: "dedicated", operator: "Equal", value: "llm", effect: "NoSchedule")]
            values.affinity = try! ValuesLoader.decode(ValuesLoader.merge(text: """
                affinity:
                  podAntiAffinity:
                    preferredDuringSchedulingIgnoredDuringExecution:
                      - weight: 100
                        podAffinityTerm:
                          topologyKey: kubernetes.io/hostname
                          labelSelector: {matchLabels: {app: gemma}}
                """, source: "test", into: ValuesLoader.defaultsTree())).affinity
            values.imagePullSecrets = ["regcred"]
            values.networkPolicy.gatewayNamespace = "gateways"
            values.secret.previousRemoteKey = "gemma-api-key-old"
            values.inferencePool.enabled = false  // two replicas behind the Service, as before the pool
        case .llamaServer:
            values.profile = "llama-server"
            values.createNamespace = true
            values.serviceAccount.enabled = true
            values.podDisruptionBudget.enabled = true
            values.autoscaling.enabled = true
            values.storage.perPod = true
            values.nodeArch = "arm64"
            values.storage.storageClass = "oci-bv"
            values.server.readinessCheck = "slots"
            values.secret.source = "secret"
            values.secret.apiKeyFile = "api-key.txt"
            values.gateway.hostname = "llm.example.com"
            values.gateway.sectionName = "https"
        case .ollama:
            values.profile = "ollama"
            values.model.ollama = ["gemma3:1b", "nomic-embed-text"]
            values.server.extraEnv = [.init(name: "OLLAMA_FLASH_ATTENTION", value: "1")]
            values.secret.source = "none"
            values.secret.storeKind = "SecretStore"
            values.networkPolicy.enabled = false
        case .externalOllama:
            values.profile = "external-ollama"
            values.external.ip = "192.168.1.50"
            values.external.models = ["llama=llama3.2", "mistral"]
            values.gateway.hostname = "llm.example.com"
        case .externalOllamaLegacy:
            values.profile = "external-ollama"
            values.external.ip = "192.168.1.50"
            values.external.legacyEndpoints = true
        case .externalOllamaTLS:
            values.profile = "external-ollama"
            values.external.hostname = "ollama.example.ts.net"
            values.external.models = ["llama3.2"]
        case .gemmactlPool:
            values.replicas = 3
            values.storage.perPod = true
            values.gateway.hostname = "llm.example.com"
        case .gemmactlPoolKEDA:
            values.autoscaling.enabled = true
            values.autoscaling.scaler = "keda"
            values.autoscaling.maxReplicas = 4
            values.storage.accessMode = "ReadWriteMany"
            values.gateway.name = "agentgateway-proxy"
            values.gateway.namespace = "agentgateway-system"
            values.networkPolicy.gatewayNamespace = "agentgateway-system"
            values.nodeArch = "arm64"
        case .gemmactlModels:
            // Several models in every pod of a pool.
            values.model.list = ["chat=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M", "embed=ggml-org/embeddinggemma-300M-GGUF:Q8_0",
                                 "ollama://gemma3:1b"]
            values.server.modelsMax = 2
            values.replicas = 2
            values.storage.size = "10Gi"
            values.gateway.hostname = "llm.example.com"
        }
        return values
    }

    var apiKey: String? { self == .llamaServer ? "test-key-0123456789" : nil }
}

@Suite("gemmactl render")
struct RenderTests {
    @Test("each profile renders byte-for-byte the reviewed golden file", arguments: RenderScenario.allCases)
    func golden(_ scenario: RenderScenario) throws {
        let stream = ManifestRenderer.stream(try renderer.render(scenario.values, apiKey: scenario.apiKey))
        let file = goldenDirectory.appendingPathComponent("\(scenario.rawValue).yaml")
        if ProcessInfo.processInfo.environment["GEMMACTL_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: goldenDirectory, withIntermediateDirectories: true)
            try stream.write(to: file, atomically: true, encoding: .utf8)
            // Recording is not checking: the run that rewrote the file must not count as a pass.
            Issue.record("golden file \(file.lastPathComponent) rewritten: review the diff, then rerun without GEMMACTL_UPDATE_GOLDEN")
            return
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(stream == expected, "rendered output differs from \(file.path); review, then regenerate with GEMMACTL_UPDATE_GOLDEN=1")
    }

    @Test("each profile renders the kinds it needs, in order")
    func kinds() throws {
        func kinds(_ scenario: RenderScenario) throws -> [String] {
            try renderer.render(scenario.values, apiKey: scenario.apiKey).map(\.kind)
        }
        #expect(try kinds(.gemmactl) == ["Namespace", "ExternalSecret", "PersistentVolumeClaim", "Service", "Deployment", "NetworkPolicy", "HTTPRoute"])
        #expect(try kinds(.gemmactlPodValues) == ["ExternalSecret", "PersistentVolumeClaim", "Service", "Deployment", "NetworkPolicy", "HTTPRoute"])
        #expect(try kinds(.llamaServer) == ["Namespace", "ServiceAccount", "Secret", "ConfigMap", "Service",
                                            "StatefulSet", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "HTTPRoute"])
        #expect(try kinds(.ollama) == ["Namespace", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment", "HTTPRoute"])
        #expect(try kinds(.externalOllama) == ["Namespace", "Service", "EndpointSlice", "AgentgatewayBackend", "AgentgatewayBackend", "HTTPRoute", "HTTPRoute"])
        #expect(try kinds(.externalOllamaLegacy) == ["Namespace", "Service", "Endpoints", "AgentgatewayBackend", "HTTPRoute"])
        #expect(try kinds(.externalOllamaTLS) == ["Namespace", "AgentgatewayBackend", "HTTPRoute"])
    }

    @Test("the Namespace is rendered unless createNamespace is false")
    func namespace() throws {
        #expect(RenderValues().createNamespace)
        #expect(try renderer.render(RenderValues()).first?.kind == "Namespace")
        var values = RenderValues()
        values.createNamespace = false
        #expect(!(try renderer.render(values)).contains { $0.kind == "Namespace" })
    }

    @Test("the gemmactl image is tagged with gemmactl's own version, from any repository")
    func imageVersion() throws {
        func image(_ configure: (inout RenderValues) -> Void) throws -> String? {
            var values = RenderValues()
            configure(&values)
            return try deployment(values)["spec"]?["template"]?["spec"]?["containers"]?[0]?["image"]?.string
        }
        #expect(try image { _ in } == "\(RenderValues.defaultGemmactlRepository):\(GemmactlVersion.current)")
        #expect(try image { $0.image.repository = "registry.example.com/me/gemmactl" } == "registry.example.com/me/gemmactl:\(GemmactlVersion.current)")
        #expect(try image { $0.image.tag = "dev" } == "\(RenderValues.defaultGemmactlRepository):dev")
        #expect(RenderValues().resolved().image.tag == GemmactlVersion.current)
    }

    @Test("llama-server: one KV pool for every slot, HOME on /tmp; gemmactl probes the public /ready")
    func serverSettings() throws {
        var values = RenderValues()
        values.profile = "llama-server"
        let spec = try deployment(values)["spec"]?["template"]?["spec"]
        let server = spec?["containers"]?[0]
        let args = server?["args"]?.sequence?.compactMap(\.string) ?? []
        #expect(args.contains("--kv-unified"))
        #expect(args.firstIndex(of: "--ctx-size").map { args[$0 + 1] } == "4096")
        let env = server?["env"]?.sequence?.map { ($0["name"]?.string ?? "", $0["value"]?.string ?? "") } ?? []
        #expect(env.contains { $0 == ("HOME", "/tmp") })

        var gemmactl = RenderValues()
        gemmactl.server.readinessCheck = "slots"
        let probe = try deployment(gemmactl)["spec"]?["template"]?["spec"]?["containers"]?[0]?["readinessProbe"]?["httpGet"]?["path"]?.string
        #expect(probe == "/ready")
    }

    @Test("the termination grace period is the server's shutdown grace plus a margin")
    func terminationGrace() throws {
        var values = RenderValues()
        values.server.shutdownGraceSeconds = 45
        let spec = try deployment(values)["spec"]?["template"]?["spec"]
        #expect(spec?["terminationGracePeriodSeconds"]?.int == 45 + RenderValues.terminationMarginSeconds)
        let args = spec?["containers"]?[0]?["args"]?.sequence?.compactMap(\.string) ?? []
        #expect(args.firstIndex(of: "--shutdown-grace").map { args[$0 + 1] } == "45s")
    }

    @Test("several pods on the default storage get a volume each, and the manifest says why", arguments: [
        "replicas=3", "autoscaling.enabled=true",
    ])
    func perPodByDefault(set: String) throws {
        let values = try ValuesLoader.load(file: nil, sets: [set]).resolved()
        #expect(values.storage.perPod && values.storage.perPodChosen && values.storage.accessMode == "ReadWriteOnce")
        let manifests = try renderer.render(values)
        #expect(!manifests.contains { $0.kind == "PersistentVolumeClaim" })
        let workload = try #require(manifests.first { $0.kind == "StatefulSet" })
        #expect(workload.text.contains("# storage.perPod is on because several pods"), "\(workload.text)")
        // --print-values shows the choice as values that render the same again.
        let printed = try ValuesLoader.yaml(values)
        let again = try ValuesLoader.decode(ValuesLoader.merge(text: printed, source: "printed", into: ValuesLoader.defaultsTree())).resolved()
        #expect(again.storage.perPod && again.storage.accessMode == "ReadWriteOnce")
        #expect(try renderer.render(again).map(\.kind) == manifests.map(\.kind))
        // One pod, or an access mode given, keeps the one shared claim.
        for sets in [[String](), [set, "storage.accessMode=ReadWriteMany"]] {
            let shared = try ValuesLoader.load(file: nil, sets: sets).resolved()
            #expect(!shared.storage.perPod && !shared.storage.perPodChosen)
            let rendered = try renderer.render(shared)
            #expect(rendered.contains { $0.kind == "PersistentVolumeClaim" })
            #expect(!rendered.contains { $0.text.contains("storage.perPod is on because") })
        }
    }

    @Test("--print-values prints external.port only where it is rendered")
    func printedExternalPort() throws {
        #expect(try ValuesLoader.load(file: nil, sets: []).resolved().external.port == 0)
        let byName = try ValuesLoader.load(file: nil, sets: ["profile=external-ollama", "external.hostname=ollama.example.ts.net",
                                                             "external.models={llama3.2}"]).resolved()
        #expect(byName.external.port == 443)
        let byAddress = try ValuesLoader.load(file: nil, sets: ["profile=external-ollama", "external.ip=192.168.1.50",
                                                                "external.models={llama3.2}"]).resolved()
        #expect(byAddress.external.port == 11434)
        // The default profile's printed values, given back with a hostname, render port 443, not 11434.
        let printed = try ValuesLoader.yaml(try ValuesLoader.load(file: nil, sets: []).resolved())
        var again = try ValuesLoader.decode(ValuesLoader.merge(text: printed, source: "printed", into: ValuesLoader.defaultsTree()))
        again.profile = "external-ollama"
        again.external.hostname = "ollama.example.ts.net"
        again.external.models = ["llama3.2"]
        let backend = try #require(try renderer.render(again).first { $0.kind == "AgentgatewayBackend" })
        #expect(backend.text.contains("port: 443"), "\(backend.text)")
    }

    @Test("several replicas with a ReadWriteOnce access mode need ReadWriteMany or per-pod storage", arguments: [
        ("replicas=2", "replicas 2"), ("autoscaling.enabled=true", "autoscaling.maxReplicas 3"),
    ])
    func multiAttach(set: String, named: String) throws {
        let values = try ValuesLoader.load(file: nil, sets: [set, "storage.accessMode=ReadWriteOnce"]).resolved()
        let error = try #require(throws: InputError.self) { try values.validate() }
        #expect(error.message.contains(named) && error.message.contains("storage.accessMode ReadWriteOnce"), "\(error.message)")
        #expect(error.recovery?.contains("storage.perPod") == true)
        var shared = values
        shared.storage.accessMode = "ReadWriteMany"
        #expect(try renderer.render(shared).contains { $0.kind == "PersistentVolumeClaim" })
        var perPod = values
        perPod.storage.perPod = true
        let manifests = try renderer.render(perPod)
        #expect(!manifests.contains { $0.kind == "PersistentVolumeClaim" })
        #expect(!manifests.contains { $0.kind == "Deployment" && $0.name == "gemma" })
        let workload = try object(try #require(manifests.first { $0.kind == "StatefulSet" }))
        #expect(workload["spec"]?["volumeClaimTemplates"]?[0]?["spec"]?["resources"]?["requests"]?["storage"]?.string == "5Gi")
    }

    @Test("the NetworkPolicy lets in the gateway's data-plane namespace, not the Gateway object's")
    func networkPolicySource() throws {
        func source(_ configure: (inout RenderValues) -> Void) throws -> String? {
            var values = RenderValues()
            configure(&values)
            let policy = try object(try #require(try renderer.render(values).first { $0.kind == "NetworkPolicy" }))
            return policy["spec"]?["ingress"]?[0]?["from"]?[0]?["namespaceSelector"]?["matchLabels"]?["kubernetes.io/metadata.name"]?.string
        }
        #expect(try source { $0.gateway.namespace = "apps" } == "envoy-gateway-system")
        #expect(try source { $0.networkPolicy.gatewayNamespace = "gateways" } == "gateways")
    }

    @Test("pod values reach the pod, labels stay out of the selector, extraEnv reaches the pull too")
    func podValues() throws {
        let manifests = try renderer.render(RenderScenario.gemmactlPodValues.values)
        let deployment = try object(try #require(manifests.first { $0.kind == "Deployment" }))
        let template = try #require(deployment["spec"]?["template"])
        #expect(template["metadata"]?["labels"]?["app"]?.string == "gemma")
        #expect(template["metadata"]?["labels"]?["team"]?.string == "ml")
        #expect(template["metadata"]?["annotations"]?["prometheus.io/scrape"]?.string == "true")
        #expect(deployment["spec"]?["selector"]?["matchLabels"]?["app"] == nil)
        for manifest in manifests {
            #expect(try object(manifest)["metadata"]?["labels"]?["team"]?.string == "ml", "\(manifest.kind)")
        }
        let spec = try #require(template["spec"])
        #expect(spec["nodeSelector"]?["kubernetes.io/arch"]?.string == "arm64")
        #expect(spec["nodeSelector"]?["node.kubernetes.io/instance-type"]?.string == "VM.Standard.A1.Flex")
        #expect(spec["tolerations"]?[0]?["effect"]?.string == "NoSchedule")
        #expect(spec["affinity"]?["podAntiAffinity"]?["preferredDuringSchedulingIgnoredDuringExecution"]?[0]?["weight"]?.int == 100)
        #expect(spec["imagePullSecrets"]?[0]?["name"]?.string == "regcred")
        for container in [spec["initContainers"]?[0], spec["containers"]?[0]] {
            let token = container?["env"]?.sequence?.first { $0["name"]?.string == "HF_TOKEN" }
            #expect(token?["valueFrom"]?["secretKeyRef"]?["name"]?.string == "hf-token")
        }
        let args = spec["containers"]?[0]?["args"]?.sequence?.compactMap(\.string) ?? []
        #expect(args.suffix(2) == ["--metrics-port", "9090"])
    }

    @Test("an external Ollama by hostname: TLS with SNI on 443, no Service or EndpointSlice")
    func externalHostname() throws {
        let manifests = try renderer.render(RenderScenario.externalOllamaTLS.values)
        let backend = try object(try #require(manifests.first { $0.kind == "AgentgatewayBackend" }))
        #expect(backend["spec"]?["ai"]?["provider"]?["host"]?.string == "ollama.example.ts.net")
        #expect(backend["spec"]?["ai"]?["provider"]?["port"]?.int == 443)
        #expect(backend["spec"]?["policies"]?["tls"]?["sni"]?.string == "ollama.example.ts.net")
    }

    @Test("the auth sidecar's config: previous key, status-only /ready, no $remote_user in the log")
    func sidecarConfig() throws {
        let manifests = try renderer.render(RenderScenario.llamaServer.values, apiKey: "k")
        let config = try object(try #require(manifests.first { $0.kind == "ConfigMap" }))
        let nginx = try #require(config["data"]?["nginx.conf"]?.string)
        let lua = try #require(config["data"]?["bearer_auth.lua"]?.string)
        #expect(!nginx.contains("remote_user"))
        #expect(nginx.contains("access_log /dev/stdout gemma;"))
        #expect(lua.contains("api-key-previous"))
        #expect(lua.contains("hmac_sha1"))
        let deployment = try object(try #require(manifests.first { $0.kind == "StatefulSet" }))
        let keyVolume = deployment["spec"]?["template"]?["spec"]?["volumes"]?.sequence?.first { $0["name"]?.string == "api-key" }
        #expect(keyVolume?["secret"]?["items"] == nil, "every item of the Secret is mounted, api-key-previous included")
    }

    private func deployment(_ values: RenderValues) throws -> Node {
        try object(try #require(try renderer.render(values).first { $0.kind == "Deployment" }))
    }

    @Test("the external-ollama backends point at the Service's cluster DNS name, one route per model")
    func externalRoutes() throws {
        let manifests = try renderer.render(RenderScenario.externalOllama.values)
        let backends = try manifests.filter { $0.kind == "AgentgatewayBackend" }.map { try object($0) }
        let provider = backends.map { $0["spec"]?["ai"]?["provider"] }
        #expect(provider.map { $0?["host"]?.string } == ["gemma.gemma.svc.cluster.local", "gemma.gemma.svc.cluster.local"])
        #expect(provider.map { $0?["port"]?.int } == [11434, 11434])
        #expect(provider.map { $0?["openai"]?["model"]?.string } == ["llama3.2", "mistral"])
        let routes = try manifests.filter { $0.kind == "HTTPRoute" }.map { try object($0) }
        let paths = routes.map { $0["spec"]?["rules"]?[0]?["matches"]?[0]?["path"]?["value"]?.string }
        #expect(paths == ["/ollama/llama", "/ollama/mistral"])
    }

    @Test("values with newlines, ': ', '---' and quotes render as plain strings")
    func injection() throws {
        let attacks = [
            "x\"\nkind: Secret\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: evil",
            "org/repo: evil\n- item",
            "---",
            "'single' \"double\" \\back\\ # not a comment",
            "tab\there\u{2028}line\u{85}next\u{0}nul\u{7F}del",
            "{{ name }}",
        ]
        let baseline = try renderer.render(RenderValues()).count
        for attack in attacks {
            var values = RenderValues()
            values.secret.remoteKey = attack
            values.model.hfRepo = attack
            let manifests = try renderer.render(values)
            #expect(manifests.count == baseline)
            let all = try Yams.load_all(yaml: ManifestRenderer.stream(manifests)).map { $0 }
            #expect(all.count == baseline)
            let secret = try object(try #require(manifests.first { $0.kind == "ExternalSecret" }))
            #expect(secret["spec"]?["data"]?[0]?["remoteRef"]?["key"]?.string == attack)
            #expect(secret["spec"]?["data"]?[0]?["remoteRef"]?.mapping?.count == 1)
            let deployment = try object(try #require(manifests.first { $0.kind == "Deployment" }))
            let initArgs = deployment["spec"]?["template"]?["spec"]?["initContainers"]?[0]?["args"]?.sequence?.compactMap(\.string)
            #expect(initArgs == ["pull", "--hf-repo", attack, "--hf-file", "gemma-3-1b-it-Q4_K_M.gguf"])
        }
    }

    // (A U+FEFF inside a value is escaped too, but libyaml drops it on reading: harmless, so not sampled.)
    @Test("quoted scalars read back as exactly the original string")
    func quoting() throws {
        var samples = ["", "plain", "yes", "null", "123", "0x1F", "- a", "a: b", "#", "&anchor", "*alias", "!tag", "%", "@", "`",
                       "é ü 日本 🦙", "\r\n", "\\n", "\"\"\""]
        samples += (0..<128).map { String(UnicodeScalar(UInt8($0))) }
        for sample in samples {
            let node = try #require(try Yams.compose(yaml: "key: \(TemplateEngine.quoted(sample))\n"))
            #expect(node["key"]?.string == sample, "round trip of \(sample.debugDescription)")
        }
    }

    @Test("the secret source decides which Secret object is rendered")
    func secretSources() throws {
        var values = RenderValues()
        values.secret.source = "secret"
        values.secret.apiKeyFile = "key"
        let plain = try renderer.render(values, apiKey: "s3cret")
        let secret = try object(try #require(plain.first { $0.kind == "Secret" }))
        #expect(secret["data"]?["api-key"]?.string == Data("s3cret".utf8).base64EncodedString())
        #expect(!plain.contains { $0.kind == "ExternalSecret" })
        #expect(throws: InputError.self) { try renderer.render(values, apiKey: nil) }

        values.secret.source = "none"
        let none = try renderer.render(values)
        #expect(!none.contains { $0.kind == "Secret" || $0.kind == "ExternalSecret" })
    }

    @Test("-o writes one file per object and a kustomization.yaml; Secrets are 0600")
    func writeDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("render-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let manifests = try renderer.render(RenderScenario.llamaServer.values, apiKey: "k")
        try ManifestRenderer.write(manifests, to: directory)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(names.count == manifests.count + 1)
        #expect(!names.contains { $0.hasPrefix(".") })
        let kustomization = try Yams.load(yaml: String(contentsOf: directory.appendingPathComponent("kustomization.yaml"), encoding: .utf8)) as? [String: Any]
        let resources = kustomization?["resources"] as? [String]
        #expect(resources?.count == manifests.count)
        #expect(resources?.first == "namespace-gemma.yaml")
        for manifest in manifests {
            let file = directory.appendingPathComponent("\(manifest.kind.lowercased())-\(manifest.name).yaml")
            #expect(try String(contentsOf: file, encoding: .utf8) == manifest.text)
            let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
            #expect(mode == (manifest.kind == "Secret" ? 0o600 : 0o644), "\(file.lastPathComponent)")
        }
    }

    private func object(_ manifest: RenderedManifest) throws -> Node {
        try #require(try Yams.compose(yaml: manifest.text))
    }
}

@Suite("gemmactl render values")
struct RenderValuesTests {
    @Test("layers: defaults < values file < --set")
    func layers() throws {
        let file = try temporaryFile("server:\n  ctxSize: 1000\n  threads: 3\nname: from-file\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let values = try ValuesLoader.load(file: file, sets: ["server.ctxSize=2000", "external.models={a,b:1b}", "gateway.enabled=false"])
        #expect(values.server.ctxSize == 2000)
        #expect(values.server.threads == 3)
        #expect(values.name == "from-file")
        #expect(values.external.models == ["a", "b:1b"])
        #expect(values.gateway.enabled == false)
        #expect(values.server.batchSize == RenderValues().server.batchSize)
    }

    @Test("an unknown field in the values file is an error naming it")
    func unknownField() throws {
        let file = try temporaryFile("gateway:\n  hostnme: llm.example.com\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let error = try #require(throws: InputError.self) { try ValuesLoader.load(file: file, sets: []) }
        #expect(error.message.contains("unknown field 'gateway.hostnme'"))
    }

    @Test("a value of the wrong type is an error naming the field and the value")
    func wrongType() throws {
        let error = try #require(throws: InputError.self) { try ValuesLoader.load(file: nil, sets: ["server.port=eighty"]) }
        #expect(error.message.contains("server.port"))
        #expect(error.message.contains("eighty"))
        let unknown = try #require(throws: InputError.self) { try ValuesLoader.load(file: nil, sets: ["server.prot=80"]) }
        #expect(unknown.message.contains("server.prot"))
    }

    @Test("print-values output loads back as the same values")
    func printValuesRoundTrip() throws {
        var values = RenderValues()
        values.profile = "ollama"
        values.gateway.hostname = "a: b"
        let file = try temporaryFile(try ValuesLoader.yaml(values))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try ValuesLoader.load(file: file, sets: []) == values)
    }

    @Test("bad values are rejected with the field and the value", arguments: [
        ("name", "Gemma_1", "name 'Gemma_1'"),
        ("resources.limits.memory", "4 GB", "resources.limits.memory '4 GB'"),
        ("server.port", "70000", "server.port 70000"),
        ("profile", "kubeflow", "profile 'kubeflow'"),
        ("storage.size", "5 Gi", "storage.size '5 Gi'"),
        ("gateway.hostname", "https://llm.example.com", "gateway.hostname 'https://llm.example.com'"),
        ("secret.source", "vault", "secret.source 'vault'"),
        ("gateway.requestTimeout", "10 minutes", "gateway.requestTimeout '10 minutes'"),
        ("server.extraArgs", "{--ctx-size,8192}", "server.extraArgs[0] '--ctx-size' is set by server.ctxSize"),
        ("server.extraArgs", "{--parallel=4}", "server.extraArgs[0] '--parallel=4' is set by server.parallel"),
        ("podLabels.app", "not ok!", "podLabels.app: 'not ok!' is not a valid label value"),
        ("podLabels.app.kubernetes.io/name", "x", "podLabels: 'app.kubernetes.io/name' is a label gemmactl render sets itself"),
        ("nodeSelector.bad key", "x", "nodeSelector: key 'bad key'"),
        ("imagePullSecrets", "{Reg_Cred}", "imagePullSecrets[0] 'Reg_Cred'"),
        ("model.ollama", "{gemma3:1b,bad model}", "model.ollama[1] 'bad model'"),
        ("networkPolicy.gatewayNamespace", "Gateways", "networkPolicy.gatewayNamespace 'Gateways'"),
        ("server.shutdownGraceSeconds", "0", "server.shutdownGraceSeconds 0"),
        ("model.list", "{chat=a/b:Q4_K_M,chat=c/d}", "model.list[1] 'chat=c/d' is named 'chat' as model.list[0] is"),
        ("model.list", "{a/b,a/b}", "model.list[1] 'a/b' is named 'a/b'"),
        ("model.list", "{chat=/models/x.gguf}", "model.list[0] 'chat=/models/x.gguf' is a file path"),
        ("model.list", "{bad alias=a/b}", "model.list[0]: 'bad alias=a/b': the alias 'bad alias'"),
        ("model.list", "{chat=not a repo}", "model.list[0] 'chat=not a repo': 'not a repo' is not a Hugging Face repository name"),
        ("model.list", "{chat=}", "model.list[0]: 'chat=' names no model"),
        ("server.modelsMax", "2", "server.modelsMax is 2, but the pod serves one model"),
        ("server.extraArgs", "{--models-max,2}", "server.extraArgs[0] '--models-max' is set by server.modelsMax"),
    ])
    func rejected(field: String, value: String, expected: String) throws {
        let values = try ValuesLoader.load(file: nil, sets: ["\(field)=\(value)"])
        let error = try #require(throws: InputError.self) { try values.resolved().validate() }
        #expect(error.message.contains(expected), "\(error.message)")
    }

    @Test("pod fields in a values file are checked like the Kubernetes API would", arguments: [
        ("server:\n  extraEnv:\n    - name: HF_TOKEN\n", "server.extraEnv[0] (HF_TOKEN) needs exactly one of value and valueFrom"),
        ("server:\n  extraEnv:\n    - {name: HF_HOME, value: /x}\n", "server.extraEnv[0].name 'HF_HOME' is set by gemmactl render itself"),
        ("server:\n  extraEnv:\n    - {name: A, valueFrom: {secretKeyRef: {name: s, key: k}, fieldRef: {fieldPath: x}}}\n",
         "server.extraEnv[0].valueFrom needs exactly one of"),
        ("server:\n  extraEnv:\n    - {name: A, valueFrom: {secretKeyRef: {name: s, ky: k}}}\n", "server.extraEnv"),
        ("tolerations:\n  - {key: a, operator: Equals}\n", "tolerations[0].operator 'Equals'"),
        ("tolerations:\n  - {key: a, operator: Exists, effect: NoSchedule, tolerationSeconds: 5}\n", "tolerations[0]: tolerationSeconds applies only to effect NoExecute"),
        ("affinity:\n  nodeAffinity:\n    requiredDuringScheduling: {}\n", "unknown field 'affinity.nodeAffinity.requiredDuringScheduling'"),
        ("affinity:\n  podAntiAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n      - {topologyKey: zone, labelSelector: {matchExpressions: [{key: app, operator: In}]}}\n",
         "operator In needs values"),
        ("tolerations:\n  - {key: a, value: b, colour: red}\n", "unknown field 'tolerations[0].colour'"),
    ])
    func podFieldsRejected(yaml: String, expected: String) throws {
        let file = try temporaryFile(yaml)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let error = try #require(throws: InputError.self) { try ValuesLoader.load(file: file, sets: []).resolved().validate() }
        #expect(error.message.contains(expected), "\(error.message)")
    }

    @Test("--set reaches one key of a labels mapping; a single model is a list of one")
    func setFreeKeys() throws {
        let values = try ValuesLoader.load(file: nil, sets: ["podLabels.app=gemma", "podAnnotations.prometheus.io/scrape=true",
                                                             "server.extraArgs={--embeddings}"])
        #expect(values.podLabels == ["app": "gemma"])
        #expect(values.podAnnotations == ["prometheus.io/scrape": "true"])
        #expect(values.server.extraArgs == ["--embeddings"])
        let file = try temporaryFile("model:\n  ollama: gemma3:4b\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try ValuesLoader.load(file: file, sets: []).model.ollama == ["gemma3:4b"])
        let whole = try #require(throws: InputError.self) { try ValuesLoader.load(file: nil, sets: ["podLabels=x"]) }
        #expect(whole.message.contains("mapping of keys"))
    }

    @Test("extra arguments go to gemmactl and llama-server only; pod values not to external-ollama")
    func extrasWherePodsRun() throws {
        var ollama = RenderValues()
        ollama.profile = "ollama"
        ollama.server.extraArgs = ["--verbose"]
        let args = try #require(throws: InputError.self) { try ollama.resolved().validate() }
        #expect(args.message.contains("server.extraArgs"))
        var external = RenderValues()
        external.profile = "external-ollama"
        external.external.ip = "192.168.1.50"
        external.podLabels = ["app": "gemma"]
        let labels = try #require(throws: InputError.self) { try external.resolved().validate() }
        #expect(labels.message.contains("podLabels is set, but the external-ollama profile runs no pod"))
        external.podLabels = [:]
        external.external.hostname = "ollama.example.ts.net"
        let both = try #require(throws: InputError.self) { try external.resolved().validate() }
        #expect(both.message.contains("external.ip and external.hostname are both set"))
    }

    @Test("external-ollama needs an external IP or hostname")
    func externalIPRequired() throws {
        var values = RenderValues()
        values.profile = "external-ollama"
        let missing = try #require(throws: InputError.self) { try values.resolved().validate() }
        #expect(missing.message.contains("external.ip or external.hostname"))
        values.external.ip = "not-an-ip"
        let bad = try #require(throws: InputError.self) { try values.resolved().validate() }
        #expect(bad.message.contains("'not-an-ip'"))
        values.external.ip = "fd00::5"
        try values.resolved().validate()
    }

    private func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("values-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

@Suite("manifest template engine")
struct TemplateEngineTests {
    private func engine(_ files: [String: String]) -> TemplateEngine {
        TemplateEngine { name in
            guard let text = files[name] else { throw InputError("no \(name)") }
            return text
        }
    }

    @Test("partials are indented to the tag's column; blocks and loops work")
    func blocks() throws {
        let engine = engine([
            "main": "a:\n  {{> inner}}\n{{#each items as item}}\n- {{ item }}\n{{/each}}\n{{#if off}}\nhidden: 1\n{{else}}\nshown: {{ n }}\n{{/if}}\n{{! gone }}",
            "partials/inner.yaml": "b: {{ s }}\nc: 2\n",
        ])
        let text = try engine.render("main", context: ["s": .string("x"), "items": .list([.string("p"), .string("q")]),
                                                       "off": .bool(false), "n": .int(3)])
        #expect(text == "a:\n  b: \"x\"\n  c: 2\n- \"p\"\n- \"q\"\nshown: 3\n")
    }

    @Test("{{= path}} writes a mapping or list as block YAML at the tag's column; empty writes nothing")
    func blockValues() throws {
        let engine = engine(["main": "env:\n  {{= env}}\nlabels:\n  {{= labels}}\n  {{= none}}\nend: 1"])
        let context: [String: TemplateValue] = [
            "env": .list([.map(["name": .string("A"), "valueFrom": .map(["secretKeyRef": .map(["key": .string("k")])])]),
                          .map(["name": .string("B"), "value": .string("true")])]),
            "labels": .map(["app": .string("gemma"), "yes": .string("no: really"), "n": .int(3), "empty": .list([])]),
            "none": .map([:]),
        ]
        let text = try engine.render("main", context: context)
        #expect(text == """
            env:
              - name: "A"
                valueFrom:
                  secretKeyRef:
                    key: "k"
              - name: "B"
                value: "true"
            labels:
              app: "gemma"
              empty: []
              "n": 3
              "yes": "no: really"
            end: 1

            """)
        let scalar = try #require(throws: InputError.self) { try engine.render("main", context: context.merging(["env": .string("x")]) { $1 }) }
        #expect(scalar.message.contains("'env' is a single value"))
    }

    @Test("template mistakes name the template and line")
    func mistakes() throws {
        let unclosed = try #require(throws: InputError.self) {
            try engine(["t": "x: 1\n{{#if a}}\ny: 2\n"]).render("t", context: ["a": .bool(true)])
        }
        #expect(unclosed.message.contains("template t line 2"))
        let missing = try #require(throws: InputError.self) {
            try engine(["t": "x: {{ nope }}\n"]).render("t", context: [:])
        }
        #expect(missing.message.contains("line 1: no value 'nope'"))
    }
}
