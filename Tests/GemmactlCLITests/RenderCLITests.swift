import Foundation
import Testing

private func temporaryFile(_ text: String, name: String = "values.yaml") throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("render-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite("gemmactl render (CLI)")
struct RenderCLITests {
    @Test("two processes render the same bytes (each hashes with its own random seed)")
    func sameOutputInEveryProcess() async throws {
        // Maps with many keys: a dictionary written in hash order would come out in another order
        // in the other process.
        func values(_ maps: [String]) throws -> String {
            try temporaryFile(maps.map { map in "\(map):\n" + (0..<12).map { "  \(map.lowercased())-\($0): value-\($0)\n" }.joined() }.joined())
        }
        let podProfile = try values(["commonLabels", "podLabels", "podAnnotations", "nodeSelector"])
        // external-ollama runs no pod: labels only.
        let external = try values(["commonLabels"])
        for (values, arguments) in [(podProfile, []), (podProfile, ["--profile", "llama-server"]), (podProfile, ["--profile", "ollama"]),
                                    (external, ["--profile", "external-ollama", "--external-ip", "10.0.0.7", "--model", "llama3.2", "--model", "mistral"])] {
            // SWIFT_DETERMINISTIC_HASHING would give both processes the same seed.
            let environment: [String: String?] = ["SWIFT_DETERMINISTIC_HASHING": nil]
            let first = try await GemmactlBinary.run(["render", "--values", values] + arguments, environment: environment)
            let second = try await GemmactlBinary.run(["render", "--values", values] + arguments, environment: environment)
            #expect(first.status == 0, "\(arguments): \(first.stderr)")
            #expect(first.stdout.contains("commonlabels-11"), "\(arguments): the values were not used")
            #expect(first.stdout == second.stdout, "\(arguments)")
        }
    }

    @Test("renders every profile as one YAML stream with the shipped templates")
    func profiles() async throws {
        for arguments in [[], ["--profile", "llama-server"], ["--profile", "ollama"],
                          ["--profile", "external-ollama", "--external-ip", "10.0.0.7", "--model", "llama3.2", "--model", "mistral"]] {
            let result = try await GemmactlBinary.run(["render"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(result.stdout.hasPrefix("---\n"))
            #expect(result.stdout.contains("\nkind: Service\n"))
            #expect(result.stderr.isEmpty)
        }
        let external = try await GemmactlBinary.run(["render", "--profile", "external-ollama", "--external-ip", "10.0.0.7", "--model", "llama3.2", "--model", "mistral"])
        #expect(external.stdout.contains("value: \"/ollama/llama3-2\""))
        #expect(external.stdout.contains("value: \"/ollama/mistral\""))
    }

    @Test("precedence: values file < --set < flags, shown by --print-values")
    func precedence() async throws {
        let file = try temporaryFile("server:\n  ctxSize: 1000\nname: from-file\n")
        let fileOnly = try await GemmactlBinary.run(["render", "--values", file, "--print-values"])
        #expect(fileOnly.status == 0, "\(fileOnly.stderr)")
        #expect(fileOnly.stdout.contains("ctxSize: 1000"))
        #expect(fileOnly.stdout.contains("name: from-file"))
        let withSet = try await GemmactlBinary.run(["render", "--values", file, "--set", "server.ctxSize=2000", "--print-values"])
        #expect(withSet.stdout.contains("ctxSize: 2000"))
        let withFlag = try await GemmactlBinary.run(["render", "--values", file, "--set", "server.ctxSize=2000", "--ctx-size", "3000", "--print-values"])
        #expect(withFlag.stdout.contains("ctxSize: 3000"))
        #expect(!withFlag.stdout.contains("apiVersion"))
    }

    @Test("--secret-source secret puts the file's key in a Secret, never in the values")
    func plainSecret() async throws {
        let keyFile = try temporaryFile("k3y-from-file\n", name: "api-key")
        let result = try await GemmactlBinary.run(["render", "--secret-source", "secret", "--api-key-file", keyFile])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("api-key: \"\(Data("k3y-from-file".utf8).base64EncodedString())\""))
        let values = try await GemmactlBinary.run(["render", "--secret-source", "secret", "--api-key-file", keyFile, "--print-values"])
        #expect(!values.stdout.contains("k3y-from-file"))
    }

    @Test("-o writes files and prints nothing on stdout")
    func outputDirectory() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("render-out-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await GemmactlBinary.run(["render", "-o", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(names.contains("kustomization.yaml"))
        #expect(names.contains("deployment-gemma.yaml"))
    }

    @Test("bad input: non-zero exit, an error naming field and value, nothing on stdout", arguments: [
        (["--name", "Gemma_1"], "name 'Gemma_1'"),
        (["--namespace=-bad"], "namespace '-bad'"),
        (["--memory-limit", "4 GB"], "resources.limits.memory '4 GB'"),
        (["--cpu-limit", "two"], "resources.limits.cpu 'two'"),
        (["--set", "server.port=70000"], "server.port 70000"),
        (["--set", "external.port=70000", "--profile", "external-ollama", "--external-ip", "10.0.0.7"], "external.port 70000"),
        (["--profile", "kubeflow"], "profile 'kubeflow'"),
        (["--profile", "external-ollama"], "external.ip or external.hostname is required"),
        (["--profile", "external-ollama", "--external-ip", "ollama.lan"], "external.ip 'ollama.lan'"),
        (["--secret-source", "secret"], "--api-key-file"),
        (["--secret-source", "secret", "--api-key-file", "/nonexistent/key"], "/nonexistent/key"),
        (["--set", "server.prot=80"], "unknown field 'server.prot'"),
        (["--set", "server.port=eighty"], "'eighty'"),
        (["--templates", "/nonexistent/templates"], "/nonexistent/templates"),
        (["--gateway", "Envoy/envoy-gateway-system"], "gateway.name 'Envoy'"),
        (["--storage-class", "OCI BV"], "storage.storageClass 'OCI BV'"),
    ])
    func badInput(arguments: [String], expected: String) async throws {
        let result = try await GemmactlBinary.run(["render"] + arguments)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty, "stdout: \(result.stdout.prefix(200))")
        #expect(result.stderr.contains(expected), "stderr: \(result.stderr)")
    }

    @Test("an unknown field in the values file is named, with the file")
    func unknownValuesField() async throws {
        let file = try temporaryFile("server:\n  ctxSize: 1000\n  thread: 4\n")
        let result = try await GemmactlBinary.run(["render", "--values", file])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("unknown field 'server.thread'"))
        #expect(result.stderr.contains(file))
    }
}
