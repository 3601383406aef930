import Foundation
import Testing

/// Runs the built `gemmactl` (next to the test bundle, or GEMMACTL_BIN) and captures what it printed.
private struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

private func gemmactl(_ arguments: [String]) throws -> CLIResult {
    let binary: URL
    if let path = ProcessInfo.processInfo.environment["GEMMACTL_BIN"] {
        binary = URL(fileURLWithPath: path)
    } else {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gemmactl")
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [besideTests, Bundle.main.bundleURL.appendingPathComponent("gemmactl"), repo.appendingPathComponent(".build/debug/gemmactl")]
        binary = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) },
                              "build gemmactl first (swift build), or set GEMMACTL_BIN")
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLIResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                     stderr: String(decoding: stderr, as: UTF8.self))
}

private func temporaryFile(_ text: String, name: String = "values.yaml") throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("render-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite("gemmactl render (CLI)")
struct RenderCLITests {
    @Test("renders every profile as one YAML stream with the shipped templates")
    func profiles() throws {
        for arguments in [[], ["--profile", "llama-server"], ["--profile", "ollama"],
                          ["--profile", "external-ollama", "--external-ip", "10.0.0.7", "--model", "llama3.2", "--model", "mistral"]] {
            let result = try gemmactl(["render"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(result.stdout.hasPrefix("---\n"))
            #expect(result.stdout.contains("\nkind: Service\n"))
            #expect(result.stderr.isEmpty)
        }
        let external = try gemmactl(["render", "--profile", "external-ollama", "--external-ip", "10.0.0.7", "--model", "llama3.2", "--model", "mistral"])
        #expect(external.stdout.contains("value: \"/ollama/llama3-2\""))
        #expect(external.stdout.contains("value: \"/ollama/mistral\""))
    }

    @Test("precedence: values file < --set < flags, shown by --print-values")
    func precedence() throws {
        let file = try temporaryFile("server:\n  ctxSize: 1000\nname: from-file\n")
        let fileOnly = try gemmactl(["render", "--values", file, "--print-values"])
        #expect(fileOnly.status == 0, "\(fileOnly.stderr)")
        #expect(fileOnly.stdout.contains("ctxSize: 1000"))
        #expect(fileOnly.stdout.contains("name: from-file"))
        let withSet = try gemmactl(["render", "--values", file, "--set", "server.ctxSize=2000", "--print-values"])
        #expect(withSet.stdout.contains("ctxSize: 2000"))
        let withFlag = try gemmactl(["render", "--values", file, "--set", "server.ctxSize=2000", "--ctx-size", "3000", "--print-values"])
        #expect(withFlag.stdout.contains("ctxSize: 3000"))
        #expect(!withFlag.stdout.contains("apiVersion"))
    }

    @Test("--secret-source secret puts the file's key in a Secret, never in the values")
    func plainSecret() throws {
        let keyFile = try temporaryFile("k3y-from-file\n", name: "api-key")
        let result = try gemmactl(["render", "--secret-source", "secret", "--api-key-file", keyFile])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("api-key: \"\(Data("k3y-from-file".utf8).base64EncodedString())\""))
        let values = try gemmactl(["render", "--secret-source", "secret", "--api-key-file", keyFile, "--print-values"])
        #expect(!values.stdout.contains("k3y-from-file"))
    }

    @Test("-o writes files and prints nothing on stdout")
    func outputDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("render-out-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try gemmactl(["render", "-o", directory.path])
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
    func badInput(arguments: [String], expected: String) throws {
        let result = try gemmactl(["render"] + arguments)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty, "stdout: \(result.stdout.prefix(200))")
        #expect(result.stderr.contains(expected), "stderr: \(result.stderr)")
    }

    @Test("an unknown field in the values file is named, with the file")
    func unknownValuesField() throws {
        let file = try temporaryFile("server:\n  ctxSize: 1000\n  thread: 4\n")
        let result = try gemmactl(["render", "--values", file])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("unknown field 'server.thread'"))
        #expect(result.stderr.contains(file))
    }
}
