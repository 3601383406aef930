import Foundation

/// Turns resolved, validated values into the tree the templates read. Everything a template needs that is
/// computed (resource names, container arguments, DNS names) is computed here, so templates only substitute.
enum RenderContext {
    static func build(_ values: RenderValues, apiKey: String?) -> [String: TemplateValue] {
        let profile = values.deploymentProfile
        let name = values.name
        let external = profile == .externalOllama
        let sidecar = profile == .llamaServer || profile == .ollama
        let backendPort = profile == .ollama ? 11434 : values.server.backendPort
        let tag = values.image.tag
        let labelVersion = tag.wholeMatch(of: /[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?/) != nil ? tag : ""
        let service = name
        let serviceHost = "\(service).\(values.namespace).svc.\(values.external.clusterDomain)"
        let readyOnSlots = values.server.readinessCheck == "slots"

        let args: [String] = switch profile {
        case .gemmactl:
            ["serve", "--host", "0.0.0.0", "--port", String(values.server.port),
             "--hf-repo", values.model.hfRepo, "--hf-file", values.model.hfFile] + engineArgs(values)
        case .llamaServer:
            ["--hf-repo", values.model.hfRepo, "--hf-file", values.model.hfFile] + engineArgs(values)
                + ["--host", "127.0.0.1", "--port", String(backendPort)]
        case .ollama:
            ["serve"]
        case .externalOllama:
            []
        }

        let routes: [TemplateValue] = values.externalRoutes.map { route in
            .map([
                "name": .string("\(name)-\(route.route)"),
                "model": .string(route.model),
                "path": .string(values.external.pathPrefix.hasSuffix("/")
                                ? values.external.pathPrefix + route.route
                                : values.external.pathPrefix + "/" + route.route),
            ])
        }

        return [
            "name": .string(name),
            "namespace": .string(values.namespace),
            "createNamespace": .bool(values.createNamespace),
            "replicas": .int(values.replicas),
            "profile": .map([
                "gemmactl": .bool(profile == .gemmactl),
                "llamaServer": .bool(profile == .llamaServer),
                "ollama": .bool(profile == .ollama),
                "externalOllama": .bool(external),
                "runsPod": .bool(!external),
                "authProxy": .bool(sidecar),
            ]),
            "labels": .map([
                "name": .string(profile.rawValue),
                "instance": .string(name),
                "version": .string(labelVersion),
            ]),
            "names": .map([
                "app": .string(name),
                "service": .string(service),
                "models": .string("\(name)-models"),
                "apiKey": .string("\(name)-api-key"),
                "authConfig": .string("\(name)-auth-config"),
            ]),
            "image": .map([
                "ref": .string(values.mainImage),
                "pullPolicy": .string(values.image.pullPolicy),
            ]),
            "model": .map([
                "hfRepo": .string(values.model.hfRepo),
                "hfFile": .string(values.model.hfFile),
                "ollama": .string(values.model.ollama),
            ]),
            "server": .map([
                "port": .int(values.server.port),
                "args": .list(args.map(TemplateValue.string)),
                "parallel": .string(String(values.server.parallel)),
                "ctxSize": .string(String(values.server.ctxSize)),
                "readyOnSlots": .bool(readyOnSlots),
                "readinessPath": .string(sidecar ? "/ready" : (readyOnSlots ? "/slots?fail_on_no_slot=1" : "/health")),
            ]),
            "backend": .map([
                "port": .int(backendPort),
                "healthPath": .string(profile == .ollama ? "/api/version" : "/health"),
            ]),
            "resources": amounts(values.resources.requests, values.resources.limits),
            "authProxy": .map([
                "image": .string(values.authProxy.image),
                "resources": amounts(values.authProxy.requests, values.authProxy.limits),
            ]),
            "storage": .map([
                "size": .string(values.storage.size),
                "storageClass": .string(values.storage.storageClass),
                "accessMode": .string(values.storage.accessMode),
            ]),
            "secret": .map([
                "external": .bool(!external && values.secretSource == .externalSecret),
                "plain": .bool(!external && values.secretSource == .secret),
                "storeKind": .string(values.secret.storeKind),
                "storeName": .string(values.secret.storeName),
                "remoteKey": .string(values.secret.remoteKey),
                "refreshInterval": .string(values.secret.refreshInterval),
                "data": .string(Data((apiKey ?? "").utf8).base64EncodedString()),
            ]),
            "gateway": .map([
                "enabled": .bool(values.gateway.enabled),
                "name": .string(values.gateway.name),
                "namespace": .string(values.gateway.namespace),
                "sectionName": .string(values.gateway.sectionName),
                "hostname": .string(values.gateway.hostname),
                "pathPrefix": .string(values.gateway.pathPrefix),
                "requestTimeout": .string(values.gateway.requestTimeout),
            ]),
            "external": .map([
                "ip": .string(values.external.ip),
                "port": .int(values.external.port),
                "addressType": .string(values.external.ip.contains(":") ? "IPv6" : "IPv4"),
                "legacyEndpoints": .bool(values.external.legacyEndpoints),
                "host": .string(serviceHost),
                "routes": .list(routes),
            ]),
            "nodeArch": .string(values.nodeArch),
            "networkPolicy": .map(["enabled": .bool(!external && values.networkPolicy.enabled)]),
            "podDisruptionBudget": .map(["enabled": .bool(!external && values.podDisruptionBudget.enabled)]),
            "autoscaling": .map([
                "enabled": .bool(!external && values.autoscaling.enabled),
                "minReplicas": .int(values.autoscaling.minReplicas),
                "maxReplicas": .int(values.autoscaling.maxReplicas),
                "targetCPUUtilization": .int(values.autoscaling.targetCPUUtilization),
            ]),
            "serviceAccount": .map(["create": .bool(!external && values.serviceAccount.enabled)]),
        ]
    }

    /// The engine flags llama-server and `gemmactl serve` share.
    private static func engineArgs(_ values: RenderValues) -> [String] {
        let server = values.server
        return ["-c", String(server.ctxSize), "-ngl", String(server.gpuLayers), "--threads", String(server.threads),
                "--batch-size", String(server.batchSize), "--parallel", String(server.parallel)]
    }

    private static func amounts(_ requests: RenderValues.ResourceAmounts, _ limits: RenderValues.ResourceAmounts) -> TemplateValue {
        .map([
            "requests": .map(["memory": .string(requests.memory), "cpu": .string(requests.cpu)]),
            "limits": .map(["memory": .string(limits.memory), "cpu": .string(limits.cpu)]),
        ])
    }
}
