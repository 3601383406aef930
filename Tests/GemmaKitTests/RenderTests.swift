import Foundation
import Testing
import Yams
@testable import GemmaKit

/// The repository's templates/ directory: what the golden files were reviewed against.
private let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let renderer = ManifestRenderer(templatesDirectory: repoRoot.appendingPathComponent("templates"))
private let goldenDirectory = repoRoot.appendingPathComponent("Tests/GemmaKitTests/Golden")

/// The scenarios with golden files: every profile, and the options that change a profile's shape.
enum RenderScenario: String, CaseIterable {
    case gemmactl
    case llamaServer = "llama-server"
    case ollama
    case externalOllama = "external-ollama"
    case externalOllamaLegacy = "external-ollama-legacy"

    var values: RenderValues {
        var values = RenderValues()
        switch self {
        case .gemmactl:
            break
        case .llamaServer:
            values.profile = "llama-server"
            values.createNamespace = true
            values.serviceAccount.enabled = true
            values.podDisruptionBudget.enabled = true
            values.autoscaling.enabled = true
            values.nodeArch = "arm64"
            values.storage.storageClass = "oci-bv"
            values.server.readinessCheck = "slots"
            values.secret.source = "secret"
            values.secret.apiKeyFile = "api-key.txt"
            values.gateway.hostname = "llm.example.com"
            values.gateway.sectionName = "https"
        case .ollama:
            values.profile = "ollama"
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
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(stream == expected, "rendered output differs from \(file.path); review, then regenerate with GEMMACTL_UPDATE_GOLDEN=1")
    }

    @Test("rendering is deterministic")
    func deterministic() throws {
        for scenario in RenderScenario.allCases {
            let first = try renderer.render(scenario.values, apiKey: scenario.apiKey)
            let second = try renderer.render(scenario.values, apiKey: scenario.apiKey)
            #expect(ManifestRenderer.stream(first) == ManifestRenderer.stream(second))
        }
    }

    @Test("each profile renders the kinds it needs, in order")
    func kinds() throws {
        func kinds(_ scenario: RenderScenario) throws -> [String] {
            try renderer.render(scenario.values, apiKey: scenario.apiKey).map(\.kind)
        }
        #expect(try kinds(.gemmactl) == ["ExternalSecret", "PersistentVolumeClaim", "Service", "Deployment", "NetworkPolicy", "HTTPRoute"])
        #expect(try kinds(.llamaServer) == ["Namespace", "ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim", "Service",
                                            "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "HTTPRoute"])
        #expect(try kinds(.ollama) == ["ConfigMap", "PersistentVolumeClaim", "Service", "Deployment", "HTTPRoute"])
        #expect(try kinds(.externalOllama) == ["Service", "EndpointSlice", "AgentgatewayBackend", "AgentgatewayBackend", "HTTPRoute", "HTTPRoute"])
        #expect(try kinds(.externalOllamaLegacy) == ["Service", "Endpoints", "AgentgatewayBackend", "HTTPRoute"])
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
        #expect(throws: RenderError.self) { try renderer.render(values, apiKey: nil) }

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
        let error = try #require(throws: RenderError.self) { try ValuesLoader.load(file: file, sets: []) }
        #expect(error.message.contains("unknown field 'gateway.hostnme'"))
    }

    @Test("a value of the wrong type is an error naming the field and the value")
    func wrongType() throws {
        let error = try #require(throws: RenderError.self) { try ValuesLoader.load(file: nil, sets: ["server.port=eighty"]) }
        #expect(error.message.contains("server.port"))
        #expect(error.message.contains("eighty"))
        let unknown = try #require(throws: RenderError.self) { try ValuesLoader.load(file: nil, sets: ["server.prot=80"]) }
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
    ])
    func rejected(field: String, value: String, expected: String) throws {
        let values = try ValuesLoader.load(file: nil, sets: ["\(field)=\(value)"])
        let error = try #require(throws: RenderError.self) { try values.resolved().validate() }
        #expect(error.message.contains(expected), "\(error.message)")
    }

    @Test("external-ollama needs an external IP")
    func externalIPRequired() throws {
        var values = RenderValues()
        values.profile = "external-ollama"
        let missing = try #require(throws: RenderError.self) { try values.resolved().validate() }
        #expect(missing.message.contains("external.ip"))
        values.external.ip = "not-an-ip"
        let bad = try #require(throws: RenderError.self) { try values.resolved().validate() }
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
            guard let text = files[name] else { throw RenderError("no \(name)") }
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

    @Test("template mistakes name the template and line")
    func mistakes() throws {
        let unclosed = try #require(throws: RenderError.self) {
            try engine(["t": "x: 1\n{{#if a}}\ny: 2\n"]).render("t", context: ["a": .bool(true)])
        }
        #expect(unclosed.message.contains("template t line 2"))
        let missing = try #require(throws: RenderError.self) {
            try engine(["t": "x: {{ nope }}\n"]).render("t", context: [:])
        }
        #expect(missing.message.contains("line 1: no value 'nope'"))
    }
}
