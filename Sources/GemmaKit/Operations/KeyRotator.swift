import Foundation

/// Where output goes: `stdout` for what a script captures (the key with --show, a manifest),
/// `info` for messages to the person (stderr).
public struct OpsOutput: Sendable {
    public var stdout: @Sendable (String) -> Void
    public var info: @Sendable (String) -> Void

    public init(stdout: @escaping @Sendable (String) -> Void, info: @escaping @Sendable (String) -> Void) {
        self.stdout = stdout
        self.info = info
    }
}

/// `gemmactl rotate-key`: generate a key and apply it to each target, or finish a rotation.
public struct KeyRotator: Sendable {
    public struct Options: Sendable {
        public var keysFile: String?
        public var tfvars: String?
        public var tfvarsVariable = TfvarsFile.defaultVariable
        public var secretName: String?
        public var secretNamespace: String?
        public var secretDataKey = "api-key"
        public var applySecret = false
        public var finish = false
        public var grace: Duration?
        public var prefix = APIKey.defaultPrefix
        public var show = false
        /// When set, check the server accepts (and after finishing, rejects) the right keys.
        public var verify: ServerEndpoint?
        /// How long --verify waits for the server to pick up the keys file.
        public var verifyTimeout: Duration = .seconds(15)

        public init() {}
    }

    public let options: Options
    public let runner: any CommandRunner
    public let output: OpsOutput
    /// The key to install; generated when nil (tests pass one).
    public var newKey: String?

    public init(options: Options, runner: any CommandRunner = ProcessRunner(), output: OpsOutput, newKey: String? = nil) {
        self.options = options
        self.runner = runner
        self.output = output
        self.newKey = newKey
    }

    public func run() async throws(OpsError) {
        if options.finish { return try await finish() }
        let key = newKey ?? APIKey.generate(prefix: options.prefix)
        var oldKeys: [String] = []
        if let path = options.keysFile {
            let existing = FileManager.default.fileExists(atPath: path)
                ? KeysFile(text: String(decoding: try AtomicFile.read(path, what: "keys file"), as: UTF8.self))
                : KeysFile(text: "")
            let updated = existing.adding(key, grace: options.grace)
            try AtomicFile.write(Data(updated.text.utf8), to: path)
            oldKeys = updated.oldKeys.map(\.value)
            var message = "added new key \(APIKey.fingerprint(key)) to \(path)"
            if oldKeys.isEmpty {
                message += " (it had no key before)"
            } else {
                message += "; \(oldKeys.count) old key\(oldKeys.count == 1 ? "" : "s") stay valid"
                message += options.grace.map { " for \(DurationText.format($0)) (recorded in the file)" } ?? ""
                message += "\n  when every client uses the new key: gemmactl rotate-key --keys-file \(path) --finish"
            }
            output.info(message)
        }
        if let path = options.tfvars {
            let original = String(decoding: try AtomicFile.read(path, what: "tfvars file"), as: UTF8.self)
            let rewritten = try TfvarsFile.replacing(variable: options.tfvarsVariable, with: key, in: original, path: path)
            try AtomicFile.write(Data(rewritten.utf8), to: path)
            output.info("set \(options.tfvarsVariable) in \(path) to the new key \(APIKey.fingerprint(key))\n\(TfvarsFile.nextSteps)")
        }
        if let name = options.secretName {
            let manifest = KeySecretManifest.render(name: name, namespace: options.secretNamespace, dataKey: options.secretDataKey, key: key)
            if options.applySecret {
                try await applyWithKubectl(manifest, name: name)
            } else {
                output.stdout(manifest)
            }
        }
        if let endpoint = options.verify {
            try await waitFor(key, accepted: true, endpoint: endpoint, what: "the new key")
            for old in oldKeys {
                try await waitFor(old, accepted: true, endpoint: endpoint, what: "old key \(APIKey.fingerprint(old))")
            }
            output.info("verified: \(endpoint.baseURL) accepts the new key\(oldKeys.isEmpty ? "" : " and still accepts the old one")")
        }
        if options.show { output.stdout(key + "\n") }
    }

    func finish() async throws(OpsError) {
        guard let path = options.keysFile else {
            throw OpsError(.noTarget, "--finish needs --keys-file PATH", recovery: "finishing removes the old keys from a keys file; other targets hold one key only")
        }
        let file = KeysFile(text: String(decoding: try AtomicFile.read(path, what: "keys file"), as: UTF8.self))
        let finished = try file.finishing()
        let current = file.currentKey!.value
        let old = file.oldKeys.map(\.value)
        if let endpoint = options.verify {
            // Prove the new key works before the old ones go, so a failure leaves clients working.
            try await waitFor(current, accepted: true, endpoint: endpoint, what: "the current key")
        }
        if old.isEmpty {
            output.info("\(path) holds only the current key \(APIKey.fingerprint(current)): nothing to finish")
        } else {
            try AtomicFile.write(Data(finished.text.utf8), to: path)
            output.info("removed \(old.count) old key\(old.count == 1 ? "" : "s") from \(path); \(APIKey.fingerprint(current)) is the only key")
        }
        if let endpoint = options.verify {
            for key in old where key != current {
                try await waitFor(key, accepted: false, endpoint: endpoint, what: "old key \(APIKey.fingerprint(key))")
            }
            output.info("verified: \(endpoint.baseURL) accepts the current key\(old.isEmpty ? "" : " and rejects the old ones")")
        }
        if options.show { output.stdout(current + "\n") }
    }

    func applyWithKubectl(_ manifest: String, name: String) async throws(OpsError) {
        guard let kubectl = runner.locate("kubectl") else {
            throw OpsError(.kubectlMissing, "--apply needs kubectl, and it is not on PATH",
                           recovery: "install kubectl, or drop --apply and pipe the manifest yourself: gemmactl rotate-key --k8s-secret \(name) | kubectl apply -f -")
        }
        let result: CommandResult
        do {
            result = try await runner.run(kubectl, ["apply", "-f", "-"], stdin: Data(manifest.utf8))
        } catch {
            throw OpsError(.commandFailed, "cannot run \(kubectl): \(error)", recovery: "check that kubectl works: kubectl version --client")
        }
        guard result.status == 0 else {
            throw OpsError(.commandFailed, "kubectl apply failed (exit \(result.status)): \(result.stderrText)",
                           recovery: "check the cluster context (kubectl config current-context) and your permissions on Secrets")
        }
        output.info("applied Secret \(name)\(options.secretNamespace.map { " in namespace \($0)" } ?? ""): \(String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
    }

    /// Polls `/v1/models` with `key` until the server accepts (or rejects) it, within `verifyTimeout`.
    func waitFor(_ key: String, accepted: Bool, endpoint: ServerEndpoint, what: String) async throws(OpsError) {
        let clock = ContinuousClock()
        let deadline = clock.now + options.verifyTimeout
        var last = ""
        try await OpsClient.withTyped(endpoint.with(apiKey: key)) { client async throws(OpsError) in
            while true {
                do {
                    let response = try await client.get("/v1/models")
                    let isAccepted = response.status == 200
                    let isRejected = response.status == 401 || response.status == 403
                    if (accepted && isAccepted) || (!accepted && isRejected) { return }
                    last = "answered \(response.status)"
                } catch {
                    last = (error as? OpsError)?.message ?? "\(error)"
                }
                if clock.now >= deadline { break }
                try? await Task.sleep(for: .milliseconds(250))
            }
            throw OpsError(.verificationFailed,
                           "\(endpoint.baseURL) did not \(accepted ? "accept" : "reject") \(what) within \(DurationText.format(options.verifyTimeout)) (last: \(last))",
                           recovery: accepted
                               ? "check that the server reads this keys file (--api-key-file) and reloads it; the old key still works"
                               : "the server still accepts the old key: check it reloads its keys file, then run --finish --verify again")
        }
    }
}
