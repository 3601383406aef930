import Foundation
import Testing
import Yams
@testable import GemmaKit

@Suite("Operations: parsing")
struct OperationsParsingTests {
    @Test func durations() throws {
        #expect(try DurationText.parse("120s", field: "--timeout") == .seconds(120))
        #expect(try DurationText.parse("2m", field: "--timeout") == .seconds(120))
        #expect(try DurationText.parse("1m30s", field: "--timeout") == .seconds(90))
        #expect(try DurationText.parse("500ms", field: "--timeout") == .milliseconds(500))
        #expect(try DurationText.parse("1.5h", field: "--grace") == .seconds(5400))
        #expect(try DurationText.parse("0s", field: "--request-timeout") == .zero)
        // One rule for every duration: a unit is required, so a bare number is refused.
        for bad in ["", "120", "2 minutes", "s", "-1s", "5d", "400d"] {
            #expect(throws: InputError.self) { try DurationText.parse(bad, field: "--timeout") }
        }
        do {
            _ = try DurationText.parse("soon", field: "--grace")
            Issue.record("parsed 'soon'")
        } catch {
            #expect(error.message.contains("--grace"))
            #expect(error.message.contains("'soon'"))
        }
    }

    @Test func quantities() throws {
        #expect(try ByteSize.parse("4Gi", field: "--memory-limit") == 4 << 30)
        #expect(try ByteSize.parse("512Mi", field: "--memory-limit") == 512 << 20)
        #expect(try ByteSize.parse("4G", field: "--memory-limit") == 4_000_000_000)
        #expect(try ByteSize.parse("1024", field: "--memory-limit") == 1024)
        #expect(try ByteSize.parse("8MiB", field: "--max-body-size") == 8 << 20)
        #expect(try ByteSize.parse("1.5Gi", field: "--memory-limit") == 3 << 29)
        for bad in ["4GB", "lots", "", "0", "-1Mi", "4Gb"] {
            #expect(throws: InputError.self) { try ByteSize.parse(bad, field: "--memory-limit") }
        }
        #expect { try ByteSize.parse("4GB", field: "--memory-limit") } throws: { error in
            "\(error)".contains("--memory-limit") && "\(error)".contains("'4GB'")
        }
    }

    @Test func endpointRejectsBadURLs() throws {
        #expect(throws: OpsError.self) { try ServerEndpoint(baseURL: "127.0.0.1:8000") }
        #expect(throws: OpsError.self) { try ServerEndpoint(baseURL: "ftp://host") }
        #expect(try ServerEndpoint(baseURL: "http://127.0.0.1:8000/").baseURL == "http://127.0.0.1:8000")
    }

    @Test func proxyFromEnvironment() {
        let env = ["HTTPS_PROXY": "http://proxy.corp:3128", "http_proxy": "proxy.corp:8080", "NO_PROXY": ".internal,svc.local"]
        #expect(ProxySetting.fromEnvironment(for: "https://llm.example.com", environment: env) == ProxySetting(host: "proxy.corp", port: 3128))
        #expect(ProxySetting.fromEnvironment(for: "http://llm.example.com", environment: env) == ProxySetting(host: "proxy.corp", port: 8080))
        #expect(ProxySetting.fromEnvironment(for: "http://gemma.internal:8000", environment: env) == nil)
        #expect(ProxySetting.fromEnvironment(for: "http://gemma.svc.local", environment: env) == nil)
        #expect(ProxySetting.fromEnvironment(for: "http://127.0.0.1:8000", environment: env) == nil)
        #expect(ProxySetting.fromEnvironment(for: "http://localhost:8000", environment: env) == nil)
    }

    @Test func slotsFromLlamaServerAndGemmactlShapes() throws {
        // llama-server (recent): is_processing, next_token object; older: state, next_token array, tokens_cached.
        let body = """
            [{"id":0,"id_task":12,"n_ctx":4096,"is_processing":true,"n_prompt_tokens":30,"n_cached_tokens":20,"next_token":{"n_decoded":7},"params":{}},
             {"id":1,"task_id":-1,"n_ctx":4096,"state":0,"next_token":[{"n_decoded":0}],"tokens_cached":5},
             {"id":2}]
            """
        guard case .slots(let slots) = try SlotsSnapshot.parseSlots(Data(body.utf8)) else { Issue.record("not slots"); return }
        #expect(slots.count == 3)
        #expect(slots[0] == SlotStatus(id: 0, processing: true, contextSize: 4096, promptTokens: 30, cachedTokens: 20, generatedTokens: 7, task: 12))
        #expect(slots[1] == SlotStatus(id: 1, processing: false, contextSize: 4096, promptTokens: nil, cachedTokens: 5, generatedTokens: 0, task: nil))
        #expect(slots[2] == SlotStatus(id: 2))
        let table = SlotsSnapshot.slots(slots).table
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines[0].split(separator: " ", omittingEmptySubsequences: true) == ["ID", "STATE", "CTX", "PROMPT", "CACHED", "GENERATED", "TASK"])
        #expect(lines[1].split(separator: " ", omittingEmptySubsequences: true) == ["0", "processing", "4096", "30", "20", "7", "12"])
        #expect(lines[3].split(separator: " ", omittingEmptySubsequences: true) == ["2", "-", "-", "-", "-", "-", "-"])
        #expect(lines.last == "1 of 3 slots processing")
        #expect(throws: OpsError.self) { try SlotsSnapshot.parseSlots(Data(#"{"error":"nope"}"#.utf8)) }
    }
}

@Suite("Operations: keys")
struct OperationsKeyTests {
    @Test func generatedKeysArePrefixedURLSafeAndDistinct() {
        let keys = (0..<20).map { _ in APIKey.generate() }
        #expect(Set(keys).count == 20)
        for key in keys {
            #expect(key.hasPrefix("gk_"))
            #expect(key.count == 3 + 43) // 256 bits in unpadded base64url
            #expect(key.dropFirst(3).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        }
        #expect(APIKey.generate(prefix: "acme_").hasPrefix("acme_"))
        #expect(!APIKey.fingerprint(keys[0]).contains(keys[0].dropFirst(3).prefix(8)))
    }

    @Test func rotationKeepsOldKeyUntilFinishAndKeepsComments() throws {
        let original = "# team keys\nold-key-1\n\n# ci\n  old-key-2  \n"
        let now = Date(timeIntervalSince1970: 1_750_000_000)
        let rotated = KeysFile(text: original).adding("gk_new", now: now)
        let reread = KeysFile(text: rotated.text)
        #expect(reread.keys.map(\.value) == ["old-key-1", "old-key-2", "gk_new"])
        #expect(reread.currentKey?.value == "gk_new")
        #expect(reread.oldKeys.map(\.value) == ["old-key-1", "old-key-2"])
        #expect(reread.activeKeys(at: now.addingTimeInterval(86400 * 365)) == ["old-key-1", "old-key-2", "gk_new"])
        #expect(rotated.text.contains("# team keys\n"))
        #expect(rotated.text.contains("# ci\n"))
        // What serve sees: key lines only.
        let serverView = rotated.text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        #expect(serverView == ["old-key-1", "old-key-2", "gk_new"])

        let finished = try reread.finishing()
        #expect(finished.keys.map(\.value) == ["gk_new"])
        #expect(finished.text.contains("# team keys\n"))

        #expect(throws: OpsError.self) { try KeysFile(text: "plain-key\n").finishing() }
    }

    @Test func graceIsRecordedAndExpiredKeysAreDropped() {
        let now = Date(timeIntervalSince1970: 1_750_000_000)
        let first = KeysFile(text: "old\n").adding("gk_a", now: now, grace: .seconds(3600))
        let parsed = KeysFile(text: first.text)
        #expect(first.text.contains("expires="))
        #expect(parsed.oldKeys.first?.expires == now.addingTimeInterval(3600))
        #expect(parsed.activeKeys(at: now.addingTimeInterval(60)) == ["old", "gk_a"])
        #expect(parsed.activeKeys(at: now.addingTimeInterval(7200)) == ["gk_a"])
        // The next rotation, past the deadline, drops the expired key.
        let second = parsed.adding("gk_b", now: now.addingTimeInterval(7200))
        #expect(second.keys.map(\.value) == ["gk_a", "gk_b"])
    }

    @Test func tfvarsRewriteKeepsEveryOtherByte() throws {
        let sample = """
            # OCI settings\r
            region          = "eu-frankfurt-1"
            compartment_ocid = "ocid1.compartment.oc1..aaaa"   # prod

              gemma_api_key   =   "sk-old-value"   # rotated by gemmactl
            gemma_api_key_id = "not-this-one"
            tags = { team = "ml" }
            """ + "\n"
        let rewritten = try TfvarsFile.replacing(with: "gk_NEW", in: sample, path: "terraform.tfvars")
        let before = KeysFile.lines(sample)
        let after = KeysFile.lines(rewritten)
        #expect(before[0] == "# OCI settings\r") // the CRLF line keeps its \r
        #expect(before.count == after.count)
        for (index, (old, new)) in zip(before, after).enumerated() {
            if index == 4 {
                #expect(new == #"  gemma_api_key   =   "gk_NEW"   # rotated by gemmactl"#)
            } else {
                #expect(Array(old.utf8) == Array(new.utf8))
            }
        }
        do {
            _ = try TfvarsFile.replacing(with: "gk_NEW", in: "region = \"x\"\ngemma_api_key_id = \"y\"\n", path: "infra/terraform.tfvars")
            Issue.record("rewrote a file without the variable")
        } catch {
            #expect(error.code == .variableMissing)
            #expect(error.message.contains("infra/terraform.tfvars"))
            #expect(error.message.contains("gemma_api_key"))
        }
        #expect(throws: OpsError.self) {
            try TfvarsFile.replacing(with: "k", in: "gemma_api_key = \"a\"\ngemma_api_key = \"b\"\n", path: "t")
        }
        #expect(throws: OpsError.self) { try TfvarsFile.replacing(with: "k", in: "gemma_api_key = var.x\n", path: "t") }
    }

    @Test func tfvarsRotationKeepsThePreviousKeyUntilFinished() throws {
        // No previous variable yet: one is added after the key's line, with its indentation and line ending.
        let first = try TfvarsFile.rotating(to: "gk_B", in: "region = \"r\"\r\n  gemma_api_key = \"gk_A\"\r\ncount = 2\r\n", path: "t")
        #expect(first.previous == "gk_A")
        #expect(first.text == "region = \"r\"\r\n  gemma_api_key = \"gk_B\"\r\n  gemma_api_key_previous = \"gk_A\"\r\ncount = 2\r\n")
        // The next rotation replaces it in place.
        let second = try TfvarsFile.rotating(to: "gk_C", in: first.text, path: "t")
        #expect(second.text == "region = \"r\"\r\n  gemma_api_key = \"gk_C\"\r\n  gemma_api_key_previous = \"gk_B\"\r\ncount = 2\r\n")
        // Finishing empties it; finishing again has nothing to do.
        let finished = try TfvarsFile.finishing(in: second.text, path: "t")
        #expect(finished.removed == "gk_B")
        #expect(finished.text == "region = \"r\"\r\n  gemma_api_key = \"gk_C\"\r\n  gemma_api_key_previous = \"\"\r\ncount = 2\r\n")
        #expect(try TfvarsFile.finishing(in: finished.text, path: "t").removed == nil)
        #expect(try TfvarsFile.finishing(in: "gemma_api_key = \"k\"\n", path: "t").removed == nil)
        // An empty key has nothing to keep: no previous line appears.
        let fromEmpty = try TfvarsFile.rotating(to: "gk_A", in: "gemma_api_key = \"\"\n", path: "t")
        #expect(fromEmpty.previous == nil)
        #expect(fromEmpty.text == "gemma_api_key = \"gk_A\"\n")
        // A previous variable that is not a quoted string is an error, and nothing is returned to write.
        #expect(throws: OpsError.self) { try TfvarsFile.rotating(to: "k", in: "gemma_api_key = \"a\"\ngemma_api_key_previous = var.x\n", path: "t") }
        // Another variable name carries its own previous variable.
        let named = try TfvarsFile.rotating(variable: "llm_key", to: "n", in: "llm_key = \"o\"\n", path: "t")
        #expect(named.text == "llm_key = \"n\"\nllm_key_previous = \"o\"\n")
    }

    @Test func secretManifestIsAValidSecret() throws {
        let text = KeySecretManifest.render(name: "gemma-api-key", namespace: "llm", dataKey: "api-key", key: "gk_abc-_1")
        let yaml = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(yaml["apiVersion"] as? String == "v1")
        #expect(yaml["kind"] as? String == "Secret")
        let metadata = try #require(yaml["metadata"] as? [String: Any])
        #expect(metadata["name"] as? String == "gemma-api-key")
        #expect(metadata["namespace"] as? String == "llm")
        #expect((yaml["stringData"] as? [String: Any])?["api-key"] as? String == "gk_abc-_1")
        #expect(KeySecretManifest.isValidName("gemma-api-key"))
        #expect(!KeySecretManifest.isValidName("Gemma_Key"))
        #expect(!KeySecretManifest.isValidName("-x"))
    }

    /// As a keys file keeps its old keys, a Secret keeps the key a rotation replaced in `api-key-previous`
    /// (which the rendered sidecar and serve accept), until --finish removes it.
    @Test func secretRotationKeepsThePreviousKeyUntilFinished() async throws {
        let get = ["get", "secret", "gemma-api-key", "--namespace", "llm", "-o", "jsonpath={.data.api-key}"]
        let patch = ["patch", "secret", "gemma-api-key", "--namespace", "llm", "--type=merge", "-p", #"{"data":{"api-key-previous":null}}"#]
        let kubectl = CannedKubectl(responses: [
            get: CommandResult(status: 0, stdout: Data(Data("gk_OLD".utf8).base64EncodedString().utf8)),
            ["apply", "-f", "-"]: CommandResult(status: 0, stdout: Data("secret/gemma-api-key configured\n".utf8)),
            patch: CommandResult(status: 0, stdout: Data("secret/gemma-api-key patched\n".utf8)),
        ])
        var options = KeyRotator.Options()
        options.secretName = "gemma-api-key"
        options.secretNamespace = "llm"
        options.applySecret = true
        let sink = OpsOutputSink()
        try await KeyRotator(options: options, runner: kubectl, output: sink.output, newKey: "gk_NEW").run()
        let applied = String(decoding: try #require(kubectl.calls.first { $0.arguments.first == "apply" }?.stdin), as: UTF8.self)
        let secret = try #require(try Yams.load(yaml: applied) as? [String: Any])
        #expect(secret["stringData"] as? [String: String] == ["api-key": "gk_NEW", "api-key-previous": "gk_OLD"])
        #expect(sink.info.contains("--finish --apply") && !sink.info.contains("gk_OLD") && !sink.info.contains("gk_NEW"))

        // Printed rather than applied: the manifest holds the previous key too.
        options.applySecret = false
        try await KeyRotator(options: options, runner: kubectl, output: sink.output, newKey: "gk_NEW").run()
        #expect(sink.stdout.contains("api-key-previous: \"gk_OLD\""))
        // Without kubectl to read the current key, the manifest says nothing of it, and the person is told.
        let plain = OpsOutputSink()
        try await KeyRotator(options: options, runner: CannedKubectl(installed: false), output: plain.output, newKey: "gk_NEW").run()
        #expect(!plain.stdout.contains("api-key-previous") && plain.info.contains("api-key-previous"))
        // A Secret that cannot be read is an error, and nothing is applied.
        options.applySecret = true
        let denied = CannedKubectl(responses: [get: CommandResult(status: 1, stdout: Data(), stderr: Data("Error from server (Forbidden)".utf8))])
        await #expect(throws: OpsError.self) { try await KeyRotator(options: options, runner: denied, output: sink.output, newKey: "gk_X").run() }
        #expect(!denied.calls.contains { $0.arguments.first == "apply" })

        options.finish = true
        try await KeyRotator(options: options, runner: kubectl, output: sink.output).run()
        #expect(kubectl.calls.last?.arguments == patch)
        #expect(sink.info.contains("removed api-key-previous from Secret gemma-api-key"))
    }

    @Test func atomicWritesAreOwnerOnly() throws {
        let directory = try OpsTempDirectory()
        let path = directory.path("keys")
        try AtomicFile.write(Data("a\n".utf8), to: path)
        try AtomicFile.write(Data("b\n".utf8), to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "b\n")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["keys"])
        #expect(throws: OpsError.self) { try AtomicFile.write(Data(), to: directory.path("missing/keys")) }
    }

    @Test func rotatorRewritesTfvarsAndAppliesSecretThroughKubectl() async throws {
        let directory = try OpsTempDirectory()
        let tfvars = directory.path("terraform.tfvars")
        try "region = \"r\"\ngemma_api_key = \"old\"\n".write(toFile: tfvars, atomically: true, encoding: .utf8)
        let kubectl = CannedKubectl(responses: [["apply", "-f", "-"]: CommandResult(status: 0, stdout: Data("secret/gemma-api-key configured\n".utf8))])
        var options = KeyRotator.Options()
        options.tfvars = tfvars
        options.secretName = "gemma-api-key"
        options.secretNamespace = "llm"
        options.applySecret = true
        let sink = OpsOutputSink()
        try await KeyRotator(options: options, runner: kubectl, output: sink.output, newKey: "gk_TEST").run()
        #expect(try String(contentsOfFile: tfvars, encoding: .utf8) == "region = \"r\"\ngemma_api_key = \"gk_TEST\"\ngemma_api_key_previous = \"old\"\n")
        let applied = try #require(kubectl.calls.first { $0.arguments.first == "apply" })
        #expect(applied.arguments == ["apply", "-f", "-"])
        #expect(String(decoding: applied.stdin ?? Data(), as: UTF8.self).contains("api-key: \"gk_TEST\""))
        // No Secret yet (kubectl get: NotFound): nothing to keep as the previous key.
        #expect(!String(decoding: applied.stdin ?? Data(), as: UTF8.self).contains("api-key-previous"))
        #expect(sink.stdout.isEmpty) // no --show: the key goes to its targets only
        #expect(!sink.info.contains("gk_TEST"))
        #expect(sink.info.contains("terraform apply"))
        #expect(sink.info.contains("managed-secrets"))

        var missing = KeyRotator.Options()
        missing.secretName = "gemma-api-key"
        missing.applySecret = true
        do {
            try await KeyRotator(options: missing, runner: CannedKubectl(installed: false), output: sink.output, newKey: "gk_X").run()
            Issue.record("applied without kubectl")
        } catch {
            #expect(error.code == .kubectlMissing)
            #expect(error.recovery?.contains("kubectl apply -f -") == true)
        }
    }
}

@Suite("Operations: doctor")
struct OperationsDoctorTests {
    @Test func memoryEstimateCountsTheRealModelsWeightsAndGrowsWithTheContext() throws {
        let estimate = try PlannerMemoryEstimator().estimate(modelPath: TestModel.path, contextSize: 8192, parallel: 4)
        #expect(estimate.weightsBytes == (try GGUFFile(path: TestModel.path)).tensorDataBytes)
        let smaller = try PlannerMemoryEstimator().estimate(modelPath: TestModel.path, contextSize: 4096, parallel: 4)
        #expect(smaller.kvCacheBytes < estimate.kvCacheBytes)
    }

    @Test func undersizedMemoryLimitIsAFindingWithAFix() async throws {
        var options = Doctor.Options(endpoint: try ServerEndpoint(baseURL: "http://127.0.0.1:9"))
        options.memoryLimit = 64 << 20
        options.modelPath = TestModel.path
        options.contextSize = 8192
        let doctor = Doctor(options: options)
        let finding = doctor.memoryCheck()
        #expect(finding.status == .fail)
        #expect(finding.finding.hasPrefix("--ctx-size 8192 needs "))
        #expect(finding.finding.contains("limit is 64 MiB"))
        #expect(finding.fix?.contains("reduce --ctx-size or use a smaller quantization") == true)

        options.memoryLimit = 64 << 30
        #expect(Doctor(options: options).memoryCheck().status == .pass)
        options.memoryLimit = nil
        #expect(Doctor(options: options).memoryCheck().status == .skip)
    }

    @Test func aPlannerPlugsInThroughTheSeam() throws {
        var options = Doctor.Options(endpoint: try ServerEndpoint(baseURL: "http://127.0.0.1:9"))
        options.memoryLimit = 4 << 30
        options.modelPath = "/any/model.gguf"
        options.contextSize = 8192
        let planner = ClosureMemoryEstimator { _, context, _ in
            MemoryEstimate(weightsBytes: 4 << 30, kvCacheBytes: UInt64(context) << 17, overheadBytes: 0, source: "planner")
        }
        let finding = Doctor(options: options, estimator: planner).memoryCheck()
        #expect(finding.status == .fail)
        #expect(finding.finding.hasPrefix("--ctx-size 8192 needs 5.0 GiB, limit is 4.0 GiB"))
        #expect(finding.finding.contains("planner"))
    }

    @Test func kubernetesFindingsFromCannedKubectlOutput() async throws {
        let kubectl = CannedKubectl(responses: [
            ["get", "pods", "-n", "llm", "-o", "json", "-l", "app=gemma"]: .init(status: 0, stdout: Data(Self.pods.utf8)),
            ["get", "pvc", "models", "-n", "llm", "-o", "json"]: .init(status: 0, stdout: Data(#"{"kind":"PersistentVolumeClaim","status":{"phase":"Pending"}}"#.utf8)),
            ["get", "secret", "gemma-api-key", "-n", "llm", "--ignore-not-found", "-o", "name"]: .init(status: 0, stdout: Data()),
            ["get", "secret", "registry", "-n", "llm", "--ignore-not-found", "-o", "name"]: .init(status: 0, stdout: Data("secret/registry\n".utf8)),
        ])
        let findings = await KubernetesChecks(namespace: "llm", selector: "app=gemma", runner: kubectl).run()
        func finding(_ check: String) -> DoctorFinding? { findings.first { $0.check == check } }
        #expect(finding("pod gemma-ok")?.status == .pass)
        let oom = try #require(finding("pod gemma-oom"))
        #expect(oom.status == .fail)
        #expect(oom.finding.contains("OOMKilled"))
        #expect(oom.finding.contains("CrashLoopBackOff"))
        #expect(oom.fix?.contains("limits.memory") == true)
        #expect(oom.commands.contains("kubectl logs gemma-oom -n llm --previous --tail=50"))
        let pull = try #require(finding("pod gemma-pull"))
        #expect(pull.status == .fail)
        #expect(pull.finding.contains("ImagePullBackOff"))
        let pending = try #require(finding("pvc models"))
        #expect(pending.status == .fail)
        #expect(pending.finding.contains("Pending"))
        #expect(finding("secret gemma-api-key")?.status == .fail)
        #expect(finding("secret registry")?.status == .pass)
        // Secret data is never read: only `-o name` lookups.
        #expect(!kubectl.calls.contains { $0.arguments.contains("secret") && $0.arguments.contains("json") })

        let none = await KubernetesChecks(namespace: "llm", selector: "app=gemma", runner: CannedKubectl(installed: false)).run()
        #expect(none.map(\.status) == [.skip])
        let empty = CannedKubectl(responses: [["get", "pods", "-o", "json", "-l", "app=x"]: .init(status: 0, stdout: Data(#"{"items":[]}"#.utf8))])
        let noPods = await KubernetesChecks(namespace: nil, selector: "app=x", runner: empty).run()
        #expect(noPods.map(\.status) == [.fail])
        let denied = CannedKubectl(responses: [["get", "pods", "-o", "json", "-l", "app=x"]: .init(status: 1, stdout: Data(), stderr: Data("Forbidden".utf8))])
        let forbidden = await KubernetesChecks(namespace: nil, selector: "app=x", runner: denied).run()
        #expect(forbidden.first?.finding.contains("Forbidden") == true)
    }

    static let pods = """
        {"apiVersion":"v1","kind":"List","items":[
          {"metadata":{"name":"gemma-ok"},
           "spec":{"containers":[{"name":"gemma","env":[{"name":"GEMMA_API_KEY","valueFrom":{"secretKeyRef":{"name":"gemma-api-key","key":"api-key"}}}]}],
                   "volumes":[{"name":"models","persistentVolumeClaim":{"claimName":"models"}}]},
           "status":{"phase":"Running","containerStatuses":[{"name":"gemma","ready":true,"restartCount":0,"state":{"running":{}}}]}},
          {"metadata":{"name":"gemma-oom"},
           "spec":{"containers":[{"name":"gemma","envFrom":[{"secretRef":{"name":"gemma-api-key"}}]}],
                   "volumes":[{"name":"models","persistentVolumeClaim":{"claimName":"models"}}]},
           "status":{"phase":"Running","containerStatuses":[{"name":"gemma","ready":false,"restartCount":5,
              "state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 5m0s"}},
              "lastState":{"terminated":{"reason":"OOMKilled","exitCode":137}}}]}},
          {"metadata":{"name":"gemma-pull"},
           "spec":{"containers":[{"name":"gemma"}],"imagePullSecrets":[{"name":"registry"}],"volumes":[{"name":"pull","secret":{"secretName":"registry"}}]},
           "status":{"phase":"Pending","containerStatuses":[{"name":"gemma","ready":false,"restartCount":0,
              "state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \\"ghcr.io/x/gemmactl:nope\\""}}}]}}
        ]}
        """
}

// MARK: helpers

/// Stands in for kubectl: canned results by argument list, recording each call.
final class CannedKubectl: CommandRunner, @unchecked Sendable {
    struct Call { var arguments: [String]; var stdin: Data? }
    let installed: Bool
    let responses: [[String]: CommandResult]
    private let lock = NSLock()
    private var recorded: [Call] = []

    init(installed: Bool = true, responses: [[String]: CommandResult] = [:]) {
        self.installed = installed
        self.responses = responses
    }

    var calls: [Call] { lock.withLock { recorded } }

    func locate(_ program: String) -> String? { installed && program == "kubectl" ? "/usr/local/bin/kubectl" : nil }

    func run(_ executable: String, _ arguments: [String], stdin: Data?) async throws -> CommandResult {
        lock.withLock { recorded.append(Call(arguments: arguments, stdin: stdin)) }
        return responses[arguments] ?? CommandResult(status: 1, stdout: Data(), stderr: Data("Error from server (NotFound)".utf8))
    }
}

/// Collects what a command prints.
final class OpsOutputSink: @unchecked Sendable {
    private let lock = NSLock()
    private var out = "", err = ""
    var stdout: String { lock.withLock { out } }
    var info: String { lock.withLock { err } }
    var output: OpsOutput {
        OpsOutput(stdout: { text in self.lock.withLock { self.out += text } },
                  info: { text in self.lock.withLock { self.err += text + "\n" } })
    }
}

/// A temporary directory removed when the value goes away.
final class OpsTempDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-ops-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}
