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
            let rotated = try TfvarsFile.rotating(variable: options.tfvarsVariable, to: key, in: original, path: path)
            try AtomicFile.write(Data(rotated.text.utf8), to: path)
            var message = "set \(options.tfvarsVariable) in \(path) to the new key \(APIKey.fingerprint(key))"
            if let previous = rotated.previous {
                let variable = TfvarsFile.previousVariable(of: options.tfvarsVariable)
                message += "; the key it replaces (\(APIKey.fingerprint(previous))) is now \(variable), which stays valid where"
                    + " Terraform stores it in the vault and the manifests sync it (render with secret.previousRemoteKey)"
                    + "\n  when every client uses the new key: gemmactl rotate-key --tfvars \(path) --finish, then terraform apply"
            }
            output.info(message + "\n" + TfvarsFile.nextSteps)
        }
        if let name = options.secretName {
            // The key it replaces stays valid beside it, as the keys file's old keys do: the rendered sidecar
            // and serve accept the Secret's `api-key-previous` item too.
            let previous = try await currentSecretKey(name: name)
            let manifest = KeySecretManifest.render(name: name, namespace: options.secretNamespace, dataKey: options.secretDataKey,
                                                    key: key, previousKey: previous)
            if options.applySecret {
                try await applyWithKubectl(manifest, name: name)
            } else {
                output.stdout(manifest)
            }
            if let previous {
                output.info("the key it replaces (\(APIKey.fingerprint(previous))) stays valid as \(previousDataKey)"
                            + "\n  when every client uses the new key: gemmactl rotate-key --k8s-secret \(name)\(namespaceArgument) --finish --apply")
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
        if let name = options.secretName { try await finishSecret(name: name) }
        if let path = options.tfvars { try finishTfvars(path: path) }
        guard let path = options.keysFile else {
            guard options.secretName != nil || options.tfvars != nil else {
                throw OpsError(.noTarget, "--finish needs --keys-file PATH, --tfvars PATH or --k8s-secret NAME --apply",
                               recovery: "finishing removes the old keys from a keys file, the previous key from a tfvars file or from a Secret")
            }
            return
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

    /// `--finish --tfvars PATH`: empties the previous key's variable, so the next `terraform apply` stops
    /// the old key being accepted.
    func finishTfvars(path: String) throws(OpsError) {
        let original = String(decoding: try AtomicFile.read(path, what: "tfvars file"), as: UTF8.self)
        let variable = TfvarsFile.previousVariable(of: options.tfvarsVariable)
        let finished = try TfvarsFile.finishing(variable: options.tfvarsVariable, in: original, path: path)
        guard let removed = finished.removed else {
            output.info("\(path) holds no previous key in \(variable): nothing to finish")
            return
        }
        try AtomicFile.write(Data(finished.text.utf8), to: path)
        output.info("emptied \(variable) in \(path) (it held \(APIKey.fingerprint(removed)))"
                    + "\n  then: terraform apply, and sync the ExternalSecret as after the rotation")
    }

    /// The Secret's item holding the key a rotation replaced: `api-key-previous`.
    var previousDataKey: String { options.secretDataKey + "-previous" }

    private var namespaceArgument: String { options.secretNamespace.map { " --namespace \($0)" } ?? "" }

    /// The key the Secret holds now, read with kubectl; nil when there is no such Secret yet. Printing
    /// the manifest (no --apply), a key that cannot be read is said and left out; applying, it is an error.
    func currentSecretKey(name: String) async throws(OpsError) -> String? {
        guard !options.applySecret else { return try await readSecretKey(name: name) }
        do {
            return try await readSecretKey(name: name)
        } catch {
            output.info("the Secret's current key was not read (\(error.message)): the manifest has no \(previousDataKey) item, and the old key stops working once it is applied")
            return nil
        }
    }

    private func readSecretKey(name: String) async throws(OpsError) -> String? {
        var arguments = ["get", "secret", name]
        if let namespace = options.secretNamespace { arguments += ["--namespace", namespace] }
        arguments += ["-o", "jsonpath={.data.\(options.secretDataKey)}"]
        let result = try await kubectl(arguments, stdin: nil, name: name)
        if result.status != 0 {
            if result.stderrText.contains("NotFound") { return nil }
            throw OpsError(.commandFailed, "cannot read the current key from Secret \(name) (kubectl exit \(result.status)): \(result.stderrText)",
                           recovery: "check the cluster context (kubectl config current-context) and your permissions to get Secrets; the Secret was not changed")
        }
        let encoded = String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !encoded.isEmpty else { return nil }
        guard let data = Data(base64Encoded: encoded) else {
            throw OpsError(.commandFailed, "Secret \(name)'s \(options.secretDataKey) item is not base64",
                           recovery: "check the Secret: kubectl get secret \(name)\(namespaceArgument) -o yaml")
        }
        let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return key.isEmpty ? nil : key
    }

    /// `--finish --k8s-secret NAME --apply`: removes the previous key from the Secret (a merge patch,
    /// so a Secret without one is left as it is).
    func finishSecret(name: String) async throws(OpsError) {
        var arguments = ["patch", "secret", name]
        if let namespace = options.secretNamespace { arguments += ["--namespace", namespace] }
        arguments += ["--type=merge", "-p", "{\"data\":{\"\(previousDataKey)\":null}}"]
        let result = try await kubectl(arguments, stdin: nil, name: name)
        guard result.status == 0 else {
            throw OpsError(.commandFailed, "kubectl patch failed (exit \(result.status)): \(result.stderrText)",
                           recovery: "check the cluster context (kubectl config current-context) and your permissions on Secrets")
        }
        output.info("removed \(previousDataKey) from Secret \(name)\(options.secretNamespace.map { " in namespace \($0)" } ?? ""): only the current key is accepted once the pods see the change")
    }

    /// Runs kubectl, which must be on PATH.
    func kubectl(_ arguments: [String], stdin: Data?, name: String) async throws(OpsError) -> CommandResult {
        guard let kubectl = runner.locate("kubectl") else {
            throw OpsError(.kubectlMissing, "kubectl is not on PATH (--apply and reading the current key need it)",
                           recovery: "install kubectl, or drop --apply and pipe the manifest yourself: gemmactl rotate-key --k8s-secret \(name) | kubectl apply -f -")
        }
        do {
            return try await runner.run(kubectl, arguments, stdin: stdin)
        } catch {
            throw OpsError(.commandFailed, "cannot run \(kubectl): \(error)", recovery: "check that kubectl works: kubectl version --client")
        }
    }

    func applyWithKubectl(_ manifest: String, name: String) async throws(OpsError) {
        let result = try await kubectl(["apply", "-f", "-"], stdin: Data(manifest.utf8), name: name)
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
