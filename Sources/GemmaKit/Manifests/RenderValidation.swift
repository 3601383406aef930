import Foundation

extension RenderValues {
    /// Checks every value before anything is rendered; the first problem is thrown, naming field and value.
    public func validate() throws {
        // Derived names append up to 13 characters ("-auth-config", "-api-key") to `name`.
        try Check.label(name, field: "name", maxLength: 40)
        try Check.label(namespace, field: "namespace", maxLength: 63)
        try Check.oneOf(profile, field: "profile", DeploymentProfile.allCases.map(\.rawValue))
        try Check.range(replicas, field: "replicas", 1...100)
        try Check.oneOf(image.pullPolicy, field: "image.pullPolicy", ["Always", "IfNotPresent", "Never"])
        try Check.imageReference(mainImage, field: "image")
        try Check.imageReference(authProxy.image, field: "authProxy.image")
        try Check.nonEmpty(model.hfRepo, field: "model.hfRepo")
        try Check.nonEmpty(model.hfFile, field: "model.hfFile")
        try Check.ollamaModels(model.ollama, field: "model.ollama")
        if !model.list.isEmpty {
            guard deploymentProfile == .gemmactl else {
                throw InputError("model.list is set, but only the gemmactl profile serves several models from one list",
                                  recovery: profile == DeploymentProfile.ollama.rawValue ? "list Ollama's models in model.ollama (--model)" : "drop model.list, or use --profile gemmactl")
            }
            try Check.modelList(model.list, field: "model.list")
        }
        try Check.range(server.modelsMax, field: "server.modelsMax", 0...256)
        if server.modelsMax > 0, !servesModelList {
            throw InputError("server.modelsMax is \(server.modelsMax), but the pod serves one model",
                              recovery: "give the models in model.list (--model ALIAS=REF, repeated), or drop server.modelsMax")
        }
        try Check.range(server.ctxSize, field: "server.ctxSize", 16...1_048_576)
        try Check.range(server.threads, field: "server.threads", 1...1024)
        try Check.range(server.batchSize, field: "server.batchSize", 1...1_048_576)
        try Check.range(server.parallel, field: "server.parallel", 1...1024)
        try Check.range(server.gpuLayers, field: "server.gpuLayers", 0...10_000)
        try Check.port(server.port, field: "server.port")
        try Check.port(server.backendPort, field: "server.backendPort")
        if deploymentProfile == .llamaServer, server.port == server.backendPort {
            throw InputError("server.port and server.backendPort are both \(server.port)",
                              recovery: "the auth sidecar and llama-server need different ports")
        }
        try Check.oneOf(server.readinessCheck, field: "server.readinessCheck", ["health", "slots"])
        if server.readinessCheck == "slots", deploymentProfile == .ollama {
            throw InputError("server.readinessCheck 'slots' needs llama-server or gemmactl; Ollama has no /slots",
                              recovery: "use --set server.readinessCheck=health with the ollama profile")
        }
        try Check.range(server.shutdownGraceSeconds, field: "server.shutdownGraceSeconds", 1...3600)
        try Check.extraArgs(server.extraArgs, profile: deploymentProfile)
        try Check.envVars(server.extraEnv, field: "server.extraEnv", reserved: reservedEnvironment)
        try validatePod()
        for (prefix, amounts) in [("resources.requests", resources.requests), ("resources.limits", resources.limits),
                                  ("authProxy.requests", authProxy.requests), ("authProxy.limits", authProxy.limits)] {
            try Check.quantity(amounts.memory, field: "\(prefix).memory")
            try Check.quantity(amounts.cpu, field: "\(prefix).cpu")
        }
        try Check.quantity(storage.size, field: "storage.size")
        try Check.oneOf(storage.accessMode, field: "storage.accessMode", ["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"])
        if mostPods > 1, storage.accessMode != "ReadWriteMany", !storage.perPod, deploymentProfile != .externalOllama {
            let what = autoscaling.enabled ? "autoscaling.maxReplicas \(autoscaling.maxReplicas)" : "replicas \(replicas)"
            throw InputError("\(what) with storage.accessMode \(storage.accessMode): pods on other nodes cannot mount the one model volume (Multi-Attach error)",
                              recovery: "set storage.accessMode=ReadWriteMany on storage that supports it (e.g. NFS), or storage.perPod=true to give each pod its own volume, or keep one replica")
        }
        if !storage.storageClass.isEmpty { try Check.subdomain(storage.storageClass, field: "storage.storageClass") }
        try Check.oneOf(secret.source, field: "secret.source", SecretSource.allCases.map(\.rawValue))
        try Check.oneOf(secret.storeKind, field: "secret.storeKind", ["ClusterSecretStore", "SecretStore"])
        try Check.subdomain(secret.storeName, field: "secret.storeName")
        try Check.nonEmpty(secret.remoteKey, field: "secret.remoteKey")
        try Check.duration(secret.refreshInterval, field: "secret.refreshInterval")
        if !secret.previousRemoteKey.isEmpty {
            try Check.nonEmpty(secret.previousRemoteKey, field: "secret.previousRemoteKey")
            guard secretSource == .externalSecret else {
                throw InputError("secret.previousRemoteKey needs secret.source external-secret",
                                  recovery: "with another source, add the item api-key-previous to the Secret yourself (see docs/render.md)")
            }
        }
        if secretSource == .secret, secret.apiKeyFile.isEmpty {
            throw InputError("secret.source is 'secret' but no API key file was given",
                              recovery: "pass --api-key-file PATH (a file holding the key), or choose --secret-source external-secret")
        }
        if gateway.enabled {
            try Check.subdomain(gateway.name, field: "gateway.name")
            try Check.label(gateway.namespace, field: "gateway.namespace", maxLength: 63)
            if !gateway.sectionName.isEmpty { try Check.subdomain(gateway.sectionName, field: "gateway.sectionName") }
            if !gateway.hostname.isEmpty { try Check.hostname(gateway.hostname, field: "gateway.hostname") }
            try Check.httpPath(gateway.pathPrefix, field: "gateway.pathPrefix")
            try Check.gatewayDuration(gateway.requestTimeout, field: "gateway.requestTimeout")
        }
        if networkPolicy.enabled { try Check.label(networkPolicy.gatewayNamespace, field: "networkPolicy.gatewayNamespace", maxLength: 63) }
        if autoscaling.enabled {
            try Check.range(autoscaling.minReplicas, field: "autoscaling.minReplicas", 1...100)
            try Check.range(autoscaling.maxReplicas, field: "autoscaling.maxReplicas", autoscaling.minReplicas...100)
            try Check.range(autoscaling.targetCPUUtilization, field: "autoscaling.targetCPUUtilization", 1...100)
            try Check.oneOf(autoscaling.scaler, field: "autoscaling.scaler", ["cpu", "keda"])
            if autoscaling.scaler == "keda" {
                guard deploymentProfile == .gemmactl else {
                    throw InputError("autoscaling.scaler 'keda' scales on gemmactl serve's queue metrics; the \(profile) profile has none",
                                      recovery: "use --set autoscaling.scaler=cpu with the \(profile) profile")
                }
                try Check.httpURL(autoscaling.prometheusAddress, field: "autoscaling.prometheusAddress")
                try Check.label(autoscaling.prometheusNamespace, field: "autoscaling.prometheusNamespace", maxLength: 63)
                try Check.range(autoscaling.targetRequestsPerReplica, field: "autoscaling.targetRequestsPerReplica", 0...10_000)
            }
        }
        if usesInferencePool {
            try Check.imageReference(inferencePool.pickerImage, field: "inferencePool.pickerImage")
            for (prefix, amounts) in [("inferencePool.pickerRequests", inferencePool.pickerRequests),
                                      ("inferencePool.pickerLimits", inferencePool.pickerLimits)] {
                try Check.quantity(amounts.memory, field: "\(prefix).memory")
                try Check.quantity(amounts.cpu, field: "\(prefix).cpu")
            }
        }
        if servesMetricsPort {
            try Check.port(server.metricsPort, field: "server.metricsPort")
            guard server.metricsPort != server.port else {
                throw InputError("server.metricsPort and server.port are both \(server.port)",
                                  recovery: "the metrics port is a second listener; choose another, e.g. 9090")
            }
            let flag = ServeSettings.metricsPort.flag
            if let index = server.extraArgs.firstIndex(where: { $0 == flag || $0.hasPrefix(flag + "=") }) {
                throw InputError("server.extraArgs[\(index)] '\(server.extraArgs[index])' is set by server.metricsPort (the endpoint picker or KEDA reads it)",
                                  recovery: "set server.metricsPort instead of passing \(flag)")
            }
        }
        if deploymentProfile == .externalOllama {
            switch (external.ip.isEmpty, external.hostname.isEmpty) {
            case (true, true):
                throw InputError("external.ip or external.hostname is required for the external-ollama profile",
                                  recovery: "pass --external-ip with the Ollama host's address (e.g. 192.168.1.50), or --external-host with its HTTPS name (e.g. ollama.example.ts.net)")
            case (false, false):
                throw InputError("external.ip and external.hostname are both set",
                                  recovery: "give one: --external-ip for a plain-HTTP host by address, --external-host for an HTTPS name")
            case (false, true):
                try Check.ipAddress(external.ip, field: "external.ip")
            case (true, false):
                try Check.subdomain(external.hostname, field: "external.hostname")
                if (try? Check.ipAddress(external.hostname, field: "")) != nil {
                    throw InputError("external.hostname '\(external.hostname)' is an IP address",
                                      recovery: "pass an address with --external-ip; --external-host takes the DNS name TLS is checked against")
                }
                guard external.hostname.contains(".") else {
                    throw InputError("external.hostname '\(external.hostname)' is not a fully qualified name",
                                      recovery: "give the host's full DNS name without scheme or port, e.g. ollama.example.ts.net")
                }
            }
            try Check.port(external.port, field: "external.port")
            try Check.httpPath(external.pathPrefix, field: "external.pathPrefix")
            try Check.subdomain(external.clusterDomain, field: "external.clusterDomain")
            guard !external.models.isEmpty else {
                throw InputError("external.models is empty", recovery: "pass --model at least once, e.g. --model llama3.2")
            }
            var seen: Set<String> = []
            for route in externalRoutes {
                try Check.nonEmpty(route.model, field: "external.models (\(route.spec))")
                guard route.model.count <= 256 else {
                    throw InputError("external.models: model '\(route.model)' is longer than 256 characters")
                }
                try Check.label(route.route, field: "external.models route name (from '\(route.spec)')", maxLength: 63 - name.count - 1)
                guard seen.insert(route.route).inserted else {
                    throw InputError("external.models: two models map to the route name '\(route.route)'",
                                      recovery: "name the routes yourself: --model ROUTE=MODEL, e.g. --model llama=llama3.2")
                }
            }
        }
    }

    /// Environment variables the rendered containers set themselves.
    var reservedEnvironment: Set<String> {
        switch deploymentProfile {
        case .gemmactl: ["HF_HOME", "GEMMA_API_KEY", "GEMMA_API_KEY_PREVIOUS"]
        case .llamaServer: ["HF_HOME", "HOME"]
        case .ollama: ["OLLAMA_HOST", "OLLAMA_MODELS", "HOME", "OLLAMA_NUM_PARALLEL", "OLLAMA_CONTEXT_LENGTH", "OLLAMA_KEEP_ALIVE", "GEMMA_OLLAMA_MODELS"]
        case .externalOllama: []
        }
    }

    /// The labels every object carries; the selector depends on them, so no value may replace them.
    static let ownLabelKeys: Set<String> = [
        "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
        "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by",
    ]

    /// Labels, annotations and scheduling; the pod-only ones are refused where no pod is rendered.
    private func validatePod() throws {
        for (field, labels) in [("commonLabels", commonLabels), ("podLabels", podLabels)] {
            try Check.labels(labels, field: field)
            if let own = labels.keys.sorted().first(where: Self.ownLabelKeys.contains) {
                throw InputError("\(field): '\(own)' is a label gemmactl render sets itself", recovery: "use another key, e.g. app")
            }
        }
        if let both = podLabels.keys.sorted().first(where: { commonLabels[$0] != nil }) {
            throw InputError("podLabels and commonLabels both set '\(both)'", recovery: "keep it in one of them (commonLabels reach the pods too)")
        }
        try Check.annotations(podAnnotations, field: "podAnnotations")
        if !nodeArch.isEmpty { try Check.oneOf(nodeArch, field: "nodeArch", ["amd64", "arm64"]) }
        try Check.labels(nodeSelector, field: "nodeSelector")
        if !nodeArch.isEmpty, nodeSelector["kubernetes.io/arch"] != nil {
            throw InputError("nodeArch and nodeSelector both set kubernetes.io/arch", recovery: "keep one of them")
        }
        try Check.tolerations(tolerations, field: "tolerations")
        try Check.affinity(affinity, field: "affinity")
        for (index, secret) in imagePullSecrets.enumerated() { try Check.subdomain(secret, field: "imagePullSecrets[\(index)]") }
        if deploymentProfile == .externalOllama {
            let podOnly: [(String, Bool)] = [
                ("server.extraArgs", !server.extraArgs.isEmpty), ("server.extraEnv", !server.extraEnv.isEmpty),
                ("podLabels", !podLabels.isEmpty), ("podAnnotations", !podAnnotations.isEmpty), ("nodeArch", !nodeArch.isEmpty),
                ("nodeSelector", !nodeSelector.isEmpty), ("tolerations", !tolerations.isEmpty), ("affinity", !affinity.isEmpty),
                ("imagePullSecrets", !imagePullSecrets.isEmpty), ("storage.perPod", storage.perPod),
            ]
            if let (field, _) = podOnly.first(where: { $0.1 }) {
                throw InputError("\(field) is set, but the external-ollama profile runs no pod", recovery: "drop \(field) for external-ollama")
            }
        }
    }

    /// One agentgateway backend and route per `external.models` entry.
    public struct ExternalRoute: Equatable, Sendable {
        /// What was given: `MODEL` or `ROUTE=MODEL`.
        public var spec: String
        /// A DNS label: the route's path segment and resource-name suffix.
        public var route: String
        /// The model name sent to Ollama.
        public var model: String
    }

    public var externalRoutes: [ExternalRoute] {
        external.models.map { spec in
            if let equals = spec.firstIndex(of: "=") {
                return ExternalRoute(spec: spec, route: String(spec[..<equals]), model: String(spec[spec.index(after: equals)...]))
            }
            // llama3.2:1b -> llama3-2; the tag is dropped from the route name.
            let base = spec.split(separator: ":", maxSplits: 1).first.map(String.init) ?? spec
            let slug = base.lowercased().map { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII ? $0 : "-" }
            let trimmed = String(slug).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
            return ExternalRoute(spec: spec, route: trimmed, model: spec)
        }
    }
}

/// The individual checks, each throwing an error that names the field and the value.
enum Check {
    /// Server flags that a value sets: in `server.extraArgs` they would contradict it. Every spelling
    /// of gemmactl serve's (`ServeSettings`, llama-server's names), and llama-server's own for what
    /// serve has not.
    static let flagsSetByValues: [String: String] = {
        typealias S = ServeSettings
        let kvUnified = "the profile (llama-server always gets --kv-unified)", secret = "secret (the key comes from the Secret)"
        let fields: [([String], String)] = [
            (S.contextSize.names, "server.ctxSize"), (S.threads.names, "server.threads"), (S.batchSize.names, "server.batchSize"),
            (S.parallel.names, "server.parallel"), (S.gpuLayers.names, "server.gpuLayers"),
            (S.port.names, "server.port (or server.backendPort)"), (S.host.names, "the profile (the server listens where the pod needs it)"),
            (S.hfRepo.names, "model.hfRepo"), (S.hfFile.names, "model.hfFile"), (S.model.names, "model.hfRepo and model.hfFile, or model.list"),
            (S.shutdownGrace.names, "server.shutdownGraceSeconds"), (S.apiKeyFile.names, secret),
            (S.modelsMax.names, "server.modelsMax"),
            (["-kvu", "--kv-unified", "--no-kv-unified"], kvUnified), (["--api-key"], secret),
        ]
        let pairs: [(String, String)] = fields.flatMap { entry in entry.0.map { ($0, entry.1) } }
        return Dictionary(pairs, uniquingKeysWith: { first, _ in first })
    }()

    static func extraArgs(_ args: [String], profile: DeploymentProfile) throws {
        guard !args.isEmpty else { return }
        guard profile == .gemmactl || profile == .llamaServer else {
            throw InputError("server.extraArgs is set, but the \(profile.rawValue) profile's server takes no extra arguments",
                              recovery: profile == .ollama ? "configure Ollama with server.extraEnv (OLLAMA_* variables) instead" : "drop server.extraArgs")
        }
        for (index, arg) in args.enumerated() {
            try nonEmpty(arg, field: "server.extraArgs[\(index)]")
            let flag = arg.split(separator: "=", maxSplits: 1).first.map(String.init) ?? arg
            if let field = flagsSetByValues[flag] {
                throw InputError("server.extraArgs[\(index)] '\(arg)' is set by \(field)", recovery: "set \(field) instead of passing \(flag)")
            }
        }
    }

    /// `model.list`: each `[ALIAS=]REF` a model the init container can pull (a repository or an Ollama name,
    /// not a path on this machine), each name (the alias, else the reference) once.
    static func modelList(_ list: [String], field: String) throws {
        var names: [String: Int] = [:]
        for (index, text) in list.enumerated() {
            let at = "\(field)[\(index)]"
            let spec: ModelSpec
            do { spec = try ModelSpec.parse(text) } catch { throw InputError("\(at): \(error.message)", recovery: error.recovery) }
            let reference: ModelReference
            do {
                reference = try ModelReference.parse(spec.reference, preferRepository: true)
            } catch let error as any ActionableError {
                throw InputError("\(at) '\(text)': \(error.message)", recovery: error.recovery)
            }
            if case .file = reference {
                throw InputError("\(at) '\(text)' is a file path; the pod pulls its models onto the model volume",
                                  recovery: "name it as the hub does, ORG/REPO[:QUANT] or ollama://NAME:TAG, e.g. chat=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M")
            }
            if let first = names.updateValue(index, forKey: spec.name) {
                throw InputError("\(at) '\(text)' is named '\(spec.name)' as \(field)[\(first)] is",
                                  recovery: "give each model its own alias, e.g. chat=REF and embed=REF")
            }
        }
    }

    /// Ollama model names: at least one, and each safe to pass through the pull script's word splitting.
    static func ollamaModels(_ models: [String], field: String) throws {
        guard !models.isEmpty else {
            throw InputError("\(field) is empty", recovery: "give at least one model, e.g. --model gemma3:1b")
        }
        for (index, model) in models.enumerated() {
            guard model.count <= 256, model.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9._:\/-]*/) != nil else {
                throw InputError("\(field)[\(index)] '\(model)' is not an Ollama model name",
                                  recovery: "write it like gemma3:1b or namespace/model:tag")
            }
        }
    }

    static func label(_ value: String, field: String, maxLength: Int) throws {
        let ok = !value.isEmpty && value.count <= maxLength && value.wholeMatch(of: /[a-z0-9]([-a-z0-9]*[a-z0-9])?/) != nil
        guard ok else {
            throw InputError("\(field) '\(value)' is not a DNS-1123 label",
                              recovery: "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most \(maxLength) characters")
        }
    }

    static func subdomain(_ value: String, field: String) throws {
        let ok = value.count <= 253 && value.wholeMatch(of: /[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/) != nil
        guard ok else {
            throw InputError("\(field) '\(value)' is not a DNS-1123 subdomain",
                              recovery: "use lowercase letters, digits, '-' and '.', at most 253 characters")
        }
    }

    static func hostname(_ value: String, field: String) throws {
        let ok = value.count <= 253 && value.wholeMatch(of: /(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/) != nil
        guard ok else {
            throw InputError("\(field) '\(value)' is not a valid hostname",
                              recovery: "use a lowercase DNS name such as llm.example.com (a leading '*.' is allowed), without scheme, port or path")
        }
    }

    static func oneOf(_ value: String, field: String, _ allowed: [String]) throws {
        guard allowed.contains(value) else {
            throw InputError("\(field) '\(value)' is not one of \(allowed.joined(separator: ", "))",
                              recovery: "choose one of \(allowed.joined(separator: ", "))")
        }
    }

    static func range(_ value: Int, field: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw InputError("\(field) \(value) is out of range",
                              recovery: "use a value from \(range.lowerBound) to \(range.upperBound)")
        }
    }

    static func port(_ value: Int, field: String) throws {
        guard (1...65535).contains(value) else {
            throw InputError("\(field) \(value) is not a valid port", recovery: "use a port from 1 to 65535")
        }
    }

    static func nonEmpty(_ value: String, field: String) throws {
        guard !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw InputError("\(field) is empty", recovery: "give it a value")
        }
    }

    /// A Kubernetes resource quantity: 4Gi, 512Mi, 1200m, 2, 1.5, 1e3. Spaces and units such as GB are rejected.
    static func quantity(_ value: String, field: String) throws {
        let ok = value.wholeMatch(of: /[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?/) != nil
        guard ok else {
            throw InputError("\(field) '\(value)' is not a Kubernetes quantity",
                              recovery: "write it without spaces, e.g. 4Gi or 512Mi for memory, 2 or 1200m for CPU")
        }
    }

    /// A Go duration as External Secrets reads it: 1h, 30m, 1h30m.
    static func duration(_ value: String, field: String) throws {
        guard value.wholeMatch(of: /([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+/) != nil else {
            throw InputError("\(field) '\(value)' is not a duration", recovery: "write it like 1h, 30m or 1h30m")
        }
    }

    /// A Gateway API duration: up to four parts of up to five digits, in h, m, s or ms.
    static func gatewayDuration(_ value: String, field: String) throws {
        guard value.wholeMatch(of: /([0-9]{1,5}(h|m|s|ms)){1,4}/) != nil else {
            throw InputError("\(field) '\(value)' is not a Gateway API duration",
                              recovery: "write it like 600s, 10m or 1h (0s: no timeout)")
        }
    }

    static func httpURL(_ value: String, field: String) throws {
        let ok = value.wholeMatch(of: #/https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/\S*)?/#) != nil
        guard ok else {
            throw InputError("\(field) '\(value)' is not an http(s) URL",
                              recovery: "write it like http://prometheus-operated.monitoring.svc:9090")
        }
    }

    static func httpPath(_ value: String, field: String) throws {
        let ok = value.hasPrefix("/") && value.count <= 1024 && !value.contains(where: { $0.isWhitespace || $0 == "#" })
        guard ok else {
            throw InputError("\(field) '\(value)' is not an absolute URL path", recovery: "start it with '/', without spaces, e.g. /v1")
        }
    }

    static func imageReference(_ value: String, field: String) throws {
        let ok = value.wholeMatch(of: /[a-z0-9][A-Za-z0-9._\-\/:]*[A-Za-z0-9](@sha256:[a-f0-9]{64})?/) != nil
        guard ok else {
            throw InputError("\(field) '\(value)' is not an image reference",
                              recovery: "write it like registry.example.com/team/gemmactl:0.1.0")
        }
    }

    static func ipAddress(_ value: String, field: String) throws {
        var v4 = in_addr(), v6 = in6_addr()
        let ok = inet_pton(AF_INET, value, &v4) == 1 || inet_pton(AF_INET6, value, &v6) == 1
        guard ok else {
            throw InputError("\(field) '\(value)' is not an IP address",
                              recovery: "give the Ollama host's IPv4 or IPv6 address, e.g. 192.168.1.50 (EndpointSlices take no hostnames)")
        }
    }
}
