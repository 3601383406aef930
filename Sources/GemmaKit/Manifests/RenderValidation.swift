import Foundation

/// A bad value, file or template for `gemmactl render`.
public struct RenderError: ActionableError, Equatable {
    public let message: String
    public let recovery: String?

    public init(_ message: String, recovery: String? = nil) {
        self.message = message
        self.recovery = recovery
    }
}

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
        try Check.nonEmpty(model.ollama, field: "model.ollama")
        try Check.range(server.ctxSize, field: "server.ctxSize", 16...1_048_576)
        try Check.range(server.threads, field: "server.threads", 1...1024)
        try Check.range(server.batchSize, field: "server.batchSize", 1...1_048_576)
        try Check.range(server.parallel, field: "server.parallel", 1...1024)
        try Check.range(server.gpuLayers, field: "server.gpuLayers", 0...10_000)
        try Check.port(server.port, field: "server.port")
        try Check.port(server.backendPort, field: "server.backendPort")
        if deploymentProfile == .llamaServer, server.port == server.backendPort {
            throw RenderError("server.port and server.backendPort are both \(server.port)",
                              recovery: "the auth sidecar and llama-server need different ports")
        }
        try Check.oneOf(server.readinessCheck, field: "server.readinessCheck", ["health", "slots"])
        if server.readinessCheck == "slots", deploymentProfile == .ollama {
            throw RenderError("server.readinessCheck 'slots' needs llama-server or gemmactl; Ollama has no /slots",
                              recovery: "use --set server.readinessCheck=health with the ollama profile")
        }
        for (prefix, amounts) in [("resources.requests", resources.requests), ("resources.limits", resources.limits),
                                  ("authProxy.requests", authProxy.requests), ("authProxy.limits", authProxy.limits)] {
            try Check.quantity(amounts.memory, field: "\(prefix).memory")
            try Check.quantity(amounts.cpu, field: "\(prefix).cpu")
        }
        try Check.quantity(storage.size, field: "storage.size")
        try Check.oneOf(storage.accessMode, field: "storage.accessMode", ["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"])
        if !storage.storageClass.isEmpty { try Check.subdomain(storage.storageClass, field: "storage.storageClass") }
        try Check.oneOf(secret.source, field: "secret.source", SecretSource.allCases.map(\.rawValue))
        try Check.oneOf(secret.storeKind, field: "secret.storeKind", ["ClusterSecretStore", "SecretStore"])
        try Check.subdomain(secret.storeName, field: "secret.storeName")
        try Check.nonEmpty(secret.remoteKey, field: "secret.remoteKey")
        try Check.duration(secret.refreshInterval, field: "secret.refreshInterval")
        if secretSource == .secret, secret.apiKeyFile.isEmpty {
            throw RenderError("secret.source is 'secret' but no API key file was given",
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
        if !nodeArch.isEmpty { try Check.oneOf(nodeArch, field: "nodeArch", ["amd64", "arm64"]) }
        if autoscaling.enabled {
            try Check.range(autoscaling.minReplicas, field: "autoscaling.minReplicas", 1...100)
            try Check.range(autoscaling.maxReplicas, field: "autoscaling.maxReplicas", autoscaling.minReplicas...100)
            try Check.range(autoscaling.targetCPUUtilization, field: "autoscaling.targetCPUUtilization", 1...100)
        }
        if deploymentProfile == .externalOllama {
            guard !external.ip.isEmpty else {
                throw RenderError("external.ip is required for the external-ollama profile",
                                  recovery: "pass --external-ip with the Ollama host's address, e.g. --external-ip 192.168.1.50")
            }
            try Check.ipAddress(external.ip, field: "external.ip")
            try Check.port(external.port, field: "external.port")
            try Check.httpPath(external.pathPrefix, field: "external.pathPrefix")
            try Check.subdomain(external.clusterDomain, field: "external.clusterDomain")
            guard !external.models.isEmpty else {
                throw RenderError("external.models is empty", recovery: "pass --model at least once, e.g. --model llama3.2")
            }
            var seen: Set<String> = []
            for route in externalRoutes {
                try Check.nonEmpty(route.model, field: "external.models (\(route.spec))")
                guard route.model.count <= 256 else {
                    throw RenderError("external.models: model '\(route.model)' is longer than 256 characters")
                }
                try Check.label(route.route, field: "external.models route name (from '\(route.spec)')", maxLength: 63 - name.count - 1)
                guard seen.insert(route.route).inserted else {
                    throw RenderError("external.models: two models map to the route name '\(route.route)'",
                                      recovery: "name the routes yourself: --model ROUTE=MODEL, e.g. --model llama=llama3.2")
                }
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
    static func label(_ value: String, field: String, maxLength: Int) throws {
        let ok = !value.isEmpty && value.count <= maxLength && value.wholeMatch(of: /[a-z0-9]([-a-z0-9]*[a-z0-9])?/) != nil
        guard ok else {
            throw RenderError("\(field) '\(value)' is not a DNS-1123 label",
                              recovery: "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most \(maxLength) characters")
        }
    }

    static func subdomain(_ value: String, field: String) throws {
        let ok = value.count <= 253 && value.wholeMatch(of: /[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/) != nil
        guard ok else {
            throw RenderError("\(field) '\(value)' is not a DNS-1123 subdomain",
                              recovery: "use lowercase letters, digits, '-' and '.', at most 253 characters")
        }
    }

    static func hostname(_ value: String, field: String) throws {
        let ok = value.count <= 253 && value.wholeMatch(of: /(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/) != nil
        guard ok else {
            throw RenderError("\(field) '\(value)' is not a valid hostname",
                              recovery: "use a lowercase DNS name such as llm.example.com (a leading '*.' is allowed), without scheme, port or path")
        }
    }

    static func oneOf(_ value: String, field: String, _ allowed: [String]) throws {
        guard allowed.contains(value) else {
            throw RenderError("\(field) '\(value)' is not one of \(allowed.joined(separator: ", "))",
                              recovery: "choose one of \(allowed.joined(separator: ", "))")
        }
    }

    static func range(_ value: Int, field: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw RenderError("\(field) \(value) is out of range",
                              recovery: "use a value from \(range.lowerBound) to \(range.upperBound)")
        }
    }

    static func port(_ value: Int, field: String) throws {
        guard (1...65535).contains(value) else {
            throw RenderError("\(field) \(value) is not a valid port", recovery: "use a port from 1 to 65535")
        }
    }

    static func nonEmpty(_ value: String, field: String) throws {
        guard !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RenderError("\(field) is empty", recovery: "give it a value")
        }
    }

    /// A Kubernetes resource quantity: 4Gi, 512Mi, 1200m, 2, 1.5, 1e3. Spaces and units such as GB are rejected.
    static func quantity(_ value: String, field: String) throws {
        let ok = value.wholeMatch(of: /[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?/) != nil
        guard ok else {
            throw RenderError("\(field) '\(value)' is not a Kubernetes quantity",
                              recovery: "write it without spaces, e.g. 4Gi or 512Mi for memory, 2 or 1200m for CPU")
        }
    }

    /// A Go duration as External Secrets reads it: 1h, 30m, 1h30m.
    static func duration(_ value: String, field: String) throws {
        guard value.wholeMatch(of: /([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+/) != nil else {
            throw RenderError("\(field) '\(value)' is not a duration", recovery: "write it like 1h, 30m or 1h30m")
        }
    }

    /// A Gateway API duration: up to four parts of up to five digits, in h, m, s or ms.
    static func gatewayDuration(_ value: String, field: String) throws {
        guard value.wholeMatch(of: /([0-9]{1,5}(h|m|s|ms)){1,4}/) != nil else {
            throw RenderError("\(field) '\(value)' is not a Gateway API duration",
                              recovery: "write it like 600s, 10m or 1h (0s: no timeout)")
        }
    }

    static func httpPath(_ value: String, field: String) throws {
        let ok = value.hasPrefix("/") && value.count <= 1024 && !value.contains(where: { $0.isWhitespace || $0 == "#" })
        guard ok else {
            throw RenderError("\(field) '\(value)' is not an absolute URL path", recovery: "start it with '/', without spaces, e.g. /v1")
        }
    }

    static func imageReference(_ value: String, field: String) throws {
        let ok = value.wholeMatch(of: /[a-z0-9][A-Za-z0-9._\-\/:]*[A-Za-z0-9](@sha256:[a-f0-9]{64})?/) != nil
        guard ok else {
            throw RenderError("\(field) '\(value)' is not an image reference",
                              recovery: "write it like registry.example.com/team/gemmactl:0.1.0")
        }
    }

    static func ipAddress(_ value: String, field: String) throws {
        var v4 = in_addr(), v6 = in6_addr()
        let ok = inet_pton(AF_INET, value, &v4) == 1 || inet_pton(AF_INET6, value, &v6) == 1
        guard ok else {
            throw RenderError("\(field) '\(value)' is not an IP address",
                              recovery: "give the Ollama host's IPv4 or IPv6 address, e.g. 192.168.1.50 (EndpointSlices take no hostnames)")
        }
    }
}
