import Foundation
import GemmaKit
import Synchronization
import Testing

/// `gemmactl health`, `slots`, `rotate-key` and `doctor` run as a user would, against stand-in servers
/// speaking llama-server's and Ollama's JSON on 127.0.0.1.
@Suite("Operations CLI")
struct OperationsCLITests {
    @Test func healthExitCodes() async throws {
        // 2: nothing listening.
        let down = try await GemmactlBinary.run(["health", "--url", "http://127.0.0.1:\(unusedPort())", "--timeout", "5s"])
        #expect(down.status == 2)
        #expect(down.stdout.contains("status:  unreachable"))

        let server = StandInServer(state: .init(loadingPolls: 1000, keys: ["right-key"]))
        try await server.run { url in
            // 1: loading.
            let loading = try await GemmactlBinary.run(["health", "--url", url])
            #expect(loading.status == 1)
            #expect(loading.stdout.contains("status:  loading"))
            server.state.withLock { $0.loadingPolls = 0 }
            // 3: wrong key, and no key.
            let wrong = try await GemmactlBinary.run(["health", "--url", url], environment: ["GEMMA_API_KEY": "wrong-key"])
            #expect(wrong.status == 3)
            #expect(wrong.stdout.contains("key-rejected"))
            let none = try await GemmactlBinary.run(["health", "--url", url])
            #expect(none.status == 3)
            #expect(none.stdout.contains("GEMMA_API_KEY"))
            // 0: ready, key from a file, model reported; JSON for scripts.
            let directory = try CLITempDirectory()
            let keyFile = directory.path("key")
            try "# comment\n\n  right-key  \n".write(toFile: keyFile, atomically: true, encoding: .utf8)
            let ready = try await GemmactlBinary.run(["health", "--url", url, "--api-key-file", keyFile, "--json"])
            #expect(ready.status == 0)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(ready.stdout.utf8)) as? [String: Any])
            #expect(json["status"] as? String == "ready")
            #expect(json["models"] as? [String] == ["gemma-3-270m-q4_k_m"])
            #expect(json["auth_required"] as? Bool == true)
            #expect(!ready.stdout.contains("right-key") && !ready.stderr.contains("right-key"))
            // GEMMA_URL is read when --url is absent.
            let viaEnv = try await GemmactlBinary.run(["health"], environment: ["GEMMA_URL": url, "GEMMA_API_KEY": "right-key"])
            #expect(viaEnv.status == 0)
        }
    }

    @Test func healthWaitsUntilReady() async throws {
        let server = StandInServer(state: .init(loadingPolls: 3))
        try await server.run { url in
            let result = try await GemmactlBinary.run(["health", "--url", url, "--wait", "--timeout", "60s", "--interval", "100ms"])
            #expect(result.status == 0)
            #expect(result.stdout.contains("status:  ready"))
            #expect(result.stderr.contains("waiting: loading"))
            #expect(server.state.withLock { $0.healthPolls } == 4)
        }
        let stuck = StandInServer(state: .init(loadingPolls: 1_000_000))
        try await stuck.run { url in
            // 5 s, not 1: under the whole suite's load the in-process stand-in once gave no answer within 1 s,
            // and a server never heard from is `unreachable` (exit 2), not `still loading`.
            let result = try await GemmactlBinary.run(["health", "--url", url, "--wait", "--timeout", "5s", "--interval", "100ms"])
            #expect(result.status == 1, "\(result.stdout)")
            #expect(result.stdout.contains("still loading after waiting 5s"))
        }
    }

    @Test func healthDetectsOllama() async throws {
        try await StandInServer(flavor: .ollama).run { url in
            let result = try await GemmactlBinary.run(["health", "--url", url])
            #expect(result.status == 0)
            #expect(result.stdout.contains("Ollama"))
            #expect(result.stdout.contains("version: 0.6.5"))
            #expect(result.stdout.contains("gemma3:270m"))
        }
    }

    @Test func badDurationsAndURLsAreClearErrors() async throws {
        let duration = try await GemmactlBinary.run(["health", "--timeout", "soon"])
        #expect(duration.status != 0)
        #expect(duration.stderr.contains("'--timeout <duration>'"), "\(duration.stderr)")
        #expect(duration.stderr.contains("must be a duration such as"), "\(duration.stderr)")
        let url = try await GemmactlBinary.run(["health", "--url", "127.0.0.1:8000"])
        #expect(url.status != 0)
        #expect(url.stderr.contains("--url must be an http:// or https:// URL"))
        #expect(url.stdout.isEmpty)
    }

    @Test func slotsTableAndJSON() async throws {
        let server = StandInServer(state: .init(keys: ["k"], slots: StandInServer.busySlots))
        try await server.run { url in
            let table = try await GemmactlBinary.run(["slots", "--url", url], environment: ["GEMMA_API_KEY": "k"])
            #expect(table.status == 0, "\(table.stderr)")
            let rows = table.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            try #require(rows.count >= 3, "\(table.stdout)\n\(table.stderr)")
            #expect(rows[0] == ["ID", "STATE", "CTX", "PROMPT", "CACHED", "GENERATED", "TASK"])
            #expect(rows[1] == ["0", "processing", "4096", "12", "8", "33", "57"])
            #expect(rows[2] == ["1", "idle", "4096", "-", "-", "-", "-"])

            let json = try await GemmactlBinary.run(["slots", "--url", url, "--json"], environment: ["GEMMA_API_KEY": "k"])
            #expect(json.status == 0)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let slots = try #require(document["slots"] as? [[String: Any]])
            #expect(slots.count == 2)
            #expect(slots[0]["generated_tokens"] as? Int == 33)
            #expect(slots[0]["is_processing"] as? Bool == true)
            #expect(slots[1]["prompt_tokens"] is NSNull)

            // --watch off a terminal: plain repeated tables.
            let watched = try await GemmactlBinary.run(["slots", "--url", url, "--watch", "--interval", "100ms", "--iterations", "3"],
                                                       environment: ["GEMMA_API_KEY": "k"])
            #expect(watched.status == 0)
            #expect(watched.stdout.components(separatedBy: "ID  STATE").count - 1 == 3)
            #expect(!watched.stdout.contains("\u{1B}["))

            let denied = try await GemmactlBinary.run(["slots", "--url", url], environment: ["GEMMA_API_KEY": "nope"])
            #expect(denied.status != 0)
            #expect(denied.stderr.contains("401"))
        }
        try await StandInServer(flavor: .ollama).run { url in
            let result = try await GemmactlBinary.run(["slots", "--url", url])
            #expect(result.status == 0)
            #expect(result.stdout.contains("gemma3:270m"))
            #expect(result.stdout.contains("512 MiB"))
            #expect(result.stdout.contains("(Ollama)"))
        }
    }

    @Test func rotateKeyOnAKeysFileWithAServerThatRereadsIt() async throws {
        let directory = try CLITempDirectory()
        let keys = directory.path("keys")
        try "# production\nold-key\n".write(toFile: keys, atomically: true, encoding: .utf8)
        let server = StandInServer(state: .init(keysFile: keys))
        try await server.run { url in
            let started = try await GemmactlBinary.run(["rotate-key", "--keys-file", keys, "--verify", "--url", url, "--grace", "24h"])
            #expect(started.status == 0, "\(started.stderr)")
            #expect(started.stdout.isEmpty) // the key goes to its target only
            #expect(started.stderr.contains("verified"))
            let text = try String(contentsOfFile: keys, encoding: .utf8)
            let lines = text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
            #expect(lines.count == 2)
            #expect(lines[0] == "old-key")
            let newKey = try #require(lines.last)
            #expect(newKey.hasPrefix("gk_"))
            #expect(!started.stderr.contains(newKey))
            #expect(text.contains("# production"))
            #expect(text.contains("expires="))
            let mode = try FileManager.default.attributesOfItem(atPath: keys)[.posixPermissions] as? Int
            #expect(mode == 0o600)

            // Both keys work during the switch.
            for key in ["old-key", newKey] {
                let health = try await GemmactlBinary.run(["health", "--url", url], environment: ["GEMMA_API_KEY": key])
                #expect(health.status == 0)
            }

            let finished = try await GemmactlBinary.run(["rotate-key", "--keys-file", keys, "--finish", "--verify", "--url", url, "--show"])
            #expect(finished.status == 0, "\(finished.stderr)")
            #expect(finished.stdout == newKey + "\n")
            let old = try await GemmactlBinary.run(["health", "--url", url], environment: ["GEMMA_API_KEY": "old-key"])
            #expect(old.status == 3)
            let new = try await GemmactlBinary.run(["health", "--url", url], environment: ["GEMMA_API_KEY": newKey])
            #expect(new.status == 0)
        }
    }

    @Test func rotateKeyFailsCleanly() async throws {
        let directory = try CLITempDirectory()
        let tfvars = directory.path("terraform.tfvars")
        let original = "region = \"eu-frankfurt-1\"\n# no key here\n"
        try original.write(toFile: tfvars, atomically: true, encoding: .utf8)
        let missing = try await GemmactlBinary.run(["rotate-key", "--tfvars", tfvars])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("has no `gemma_api_key = \"…\"` line"))
        #expect(try String(contentsOfFile: tfvars, encoding: .utf8) == original)
        #expect(missing.stdout.isEmpty)

        let noTarget = try await GemmactlBinary.run(["rotate-key"])
        #expect(noTarget.status != 0)
        #expect(noTarget.stderr.contains("--keys-file PATH, --tfvars PATH, --k8s-secret NAME, or --show"))

        // --verify against nothing: the new key is in the file, the old one stays, exit non-zero.
        let keys = directory.path("keys")
        try "old-key\n".write(toFile: keys, atomically: true, encoding: .utf8)
        let unverified = try await GemmactlBinary.run(["rotate-key", "--keys-file", keys, "--verify", "--url", "http://127.0.0.1:\(unusedPort())",
                                                       "--verify-timeout", "1s"])
        #expect(unverified.status != 0)
        #expect(try String(contentsOfFile: keys, encoding: .utf8).contains("old-key\n"))

        let apply = try await GemmactlBinary.run(["rotate-key", "--k8s-secret", "gemma-api-key", "--apply"], environment: ["PATH": directory.url.path])
        #expect(apply.status != 0)
        #expect(apply.stderr.contains("kubectl"))
        #expect(apply.stdout.isEmpty)
    }

    @Test func rotateKeyTfvarsAndSecretManifest() async throws {
        let directory = try CLITempDirectory()
        let tfvars = directory.path("terraform.tfvars")
        let original = "# OCI\nregion = \"r\"\n\ngemma_api_key = \"old\" # rotated\ncount = 2\n"
        try original.write(toFile: tfvars, atomically: true, encoding: .utf8)
        let result = try await GemmactlBinary.run(["rotate-key", "--tfvars", tfvars, "--show"])
        #expect(result.status == 0)
        let key = result.stdout.trimmingCharacters(in: .newlines)
        #expect(key.hasPrefix("gk_") && key.count == 46)
        let rotated = original.replacingOccurrences(of: "\"old\" # rotated\n", with: "\"\(key)\" # rotated\ngemma_api_key_previous = \"old\"\n")
        #expect(try String(contentsOfFile: tfvars, encoding: .utf8) == rotated)
        #expect(result.stderr.contains("terraform apply"))
        #expect(result.stderr.contains("managed-secrets"))
        #expect(result.stderr.contains("--finish"))
        #expect(!result.stderr.contains("\"old\""))

        let finished = try await GemmactlBinary.run(["rotate-key", "--tfvars", tfvars, "--finish"])
        #expect(finished.status == 0)
        #expect(finished.stdout.isEmpty)
        #expect(try String(contentsOfFile: tfvars, encoding: .utf8) == rotated.replacingOccurrences(of: "_previous = \"old\"", with: "_previous = \"\""))
        #expect(finished.stderr.contains("emptied gemma_api_key_previous"))
        let again = try await GemmactlBinary.run(["rotate-key", "--tfvars", tfvars, "--finish"])
        #expect(again.status == 0)
        #expect(again.stderr.contains("nothing to finish"))

        let manifest = try await GemmactlBinary.run(["rotate-key", "--k8s-secret", "gemma-api-key", "--namespace", "llm"])
        #expect(manifest.status == 0)
        #expect(manifest.stdout.hasPrefix("apiVersion: v1\nkind: Secret\nmetadata:\n  name: gemma-api-key\n  namespace: llm\n"))
        #expect(manifest.stdout.contains("  api-key: \"gk_"))
    }

    @Test func doctorFindings() async throws {
        let server = StandInServer(state: .init(keys: ["k"], slots: StandInServer.busySlots))
        try await server.run { url in
            let result = try await GemmactlBinary.run(["doctor", "--url", url, "--memory-limit", "64Mi", "-c", "8192",
                                                       "--stuck-interval", "200ms", "--stream-check", "--json"],
                                                      environment: ["GEMMA_API_KEY": "k"])
            #expect(result.status == 1)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(document["ok"] as? Bool == false)
            let findings = try #require(document["findings"] as? [[String: Any]])
            func status(_ check: String) -> String? { findings.first { $0["check"] as? String == check }?["status"] as? String }
            #expect(status("reachable") == "pass")
            #expect(status("health") == "pass")
            #expect(status("api key") == "pass")
            #expect(status("slots") == "fail") // slot 0 busy with the same counts on both reads
            #expect(status("stream") == "pass")
            #expect(status("memory") == "fail")
            let memory = try #require(findings.first { $0["check"] as? String == "memory" })
            #expect((memory["finding"] as? String)?.hasPrefix("--ctx-size 8192 needs ") == true)
            #expect((memory["finding"] as? String)?.contains("limit is 64 MiB") == true)
            #expect((memory["fix"] as? String)?.contains("reduce --ctx-size") == true)
            let stream = try #require(findings.first { $0["check"] as? String == "stream" }?["finding"] as? String)
            #expect(stream.contains("first byte after"))
            #expect(stream.contains("6 events"))

            server.state.withLock { $0.slots = StandInServer.idleSlots }
            let healthy = try await GemmactlBinary.run(["doctor", "--url", url, "--memory-limit", "8Gi"], environment: ["GEMMA_API_KEY": "k"])
            #expect(healthy.status == 0, "\(healthy.stdout)")
            #expect(healthy.stdout.contains("all checks passed"))

            let wrongKey = try await GemmactlBinary.run(["doctor", "--url", url], environment: ["GEMMA_API_KEY": "bad"])
            #expect(wrongKey.status == 1)
            #expect(wrongKey.stdout.contains("FAIL  api key"))
        }
        let down = try await GemmactlBinary.run(["doctor", "--url", "http://127.0.0.1:\(unusedPort())"])
        #expect(down.status == 1)
        #expect(down.stdout.contains("FAIL  reachable"))
    }

    @Test func everyCommandHelpCarriesAnExample() async throws {
        for command in [[], ["health"], ["slots"], ["rotate-key"], ["doctor"]] + Self.otherSubcommands() {
            let help = try await GemmactlBinary.run(command + ["--help"])
            #expect(help.status == 0)
            #expect(help.stdout.contains("Example"), "gemmactl \(command.joined(separator: " ")) --help has no example")
            #expect(help.stdout.contains("gemmactl \(command.first ?? "")"))
        }
        let health = try await GemmactlBinary.run(["health", "--help"])
        #expect(health.stdout.contains("3  API key rejected"))
        #expect(health.stdout.contains("GEMMA_URL"))
        #expect(health.stdout.contains("GEMMA_API_KEY"))
    }

    /// Subcommands other engineers add, read from the root help so they are checked too.
    static func otherSubcommands() -> [[String]] {
        guard let help = try? GemmactlBinary.runBlocking(["--help"], environment: [:], stdin: nil).stdout,
              let range = help.range(of: "SUBCOMMANDS:") else { return [] }
        return help[range.upperBound...].split(separator: "\n").compactMap { line in
            let name = line.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init)
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let name, name != "help",
                  name.first?.isLowercase == true, name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" }),
                  !["health", "slots", "rotate-key", "doctor"].contains(name) else { return nil }
            return [name]
        }
    }
}

/// The completion scripts in completions/ match what the binary generates.
@Suite("Shell completions")
struct CompletionsTests {
    @Test(arguments: [("bash", "gemmactl.bash"), ("zsh", "_gemmactl"), ("fish", "gemmactl.fish")])
    func committedCompletionsAreCurrent(shell: String, file: String) async throws {
        let generated = try await GemmactlBinary.run(["--generate-completion-script", shell])
        #expect(generated.status == 0)
        #expect(generated.stdout.contains("rotate-key"))
        let committed = try String(contentsOf: GemmactlBinary.repositoryRoot.appendingPathComponent("completions/\(file)"), encoding: .utf8)
        #expect(committed == generated.stdout, "completions/\(file) is stale: run scripts/gen-completions and commit the result")
    }
}

/// A temporary directory removed when the value goes away.
final class CLITempDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

final class StopFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}

/// Clients keep working while rotate-key rewrites the keys file under a server that re-reads it.
@Suite("Key rotation without downtime")
struct KeyRotationDowntimeTests {
    /// Sends requests with `key` until `stop` is set; returns (requests, failures).
    static func hammer(_ url: String, key: String, stop: StopFlag) async throws -> (Int, [String]) {
        let endpoint = try ServerEndpoint(baseURL: url, apiKey: key, timeout: .seconds(5))
        return try await OpsClient.with(endpoint) { client in
            var count = 0
            var failures: [String] = []
            while !stop.isSet || count < 20 {
                count += 1
                do {
                    let response = try await client.get("/v1/models")
                    if response.status != 200 { failures.append("request \(count): \(response.status)") }
                } catch {
                    failures.append("request \(count): \(error)")
                }
            }
            return (count, failures)
        }
    }

    @Test func noRequestFailsDuringTheSwitch() async throws {
        let directory = try CLITempDirectory()
        let keys = directory.path("keys")
        try "old-key\n".write(toFile: keys, atomically: true, encoding: .utf8)
        let server = StandInServer(state: .init(keysFile: keys))
        try await server.run { url in
            // Old key in use while the new one is added.
            let stopOld = StopFlag()
            async let old = Self.hammer(url, key: "old-key", stop: stopOld)
            for _ in 0..<3 {
                let rotated = try await GemmactlBinary.run(["rotate-key", "--keys-file", keys, "--verify", "--url", url])
                #expect(rotated.status == 0, "\(rotated.stderr)")
                let finished = try await GemmactlBinary.run(["rotate-key", "--keys-file", keys, "--show"])
                #expect(finished.status == 0)
            }
            stopOld.set()
            let (oldCount, oldFailures) = try await old
            #expect(oldFailures.isEmpty, "\(oldFailures.prefix(5)) of \(oldCount)")
            #expect(KeysFile(text: try String(contentsOfFile: keys, encoding: .utf8)).keys.count == 7)

            // The newest key in use while the old ones are removed.
            let current = try #require(KeysFile(text: try String(contentsOfFile: keys, encoding: .utf8)).currentKey?.value)
            let stopNew = StopFlag()
            async let new = Self.hammer(url, key: current, stop: stopNew)
            let finished = try await GemmactlBinary.run(["rotate-key", "--keys-file", keys, "--finish", "--verify", "--url", url])
            #expect(finished.status == 0, "\(finished.stderr)")
            stopNew.set()
            let (newCount, newFailures) = try await new
            #expect(newFailures.isEmpty, "\(newFailures.prefix(5)) of \(newCount)")
            #expect(KeysFile.keyLines(try String(contentsOfFile: keys, encoding: .utf8)) == [current])
        }
    }
}
