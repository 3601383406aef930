import Foundation
import Yams

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
        let byHostname = !values.external.hostname.isEmpty

        typealias S = ServeSettings
        let args: [String] = switch profile {
        case .gemmactl:
            ["serve", S.host.flag, "0.0.0.0", S.port.flag, String(values.server.port)] + engineArgs(values)
                + [S.shutdownGrace.flag, "\(values.server.shutdownGraceSeconds)s"]
                + (values.servesMetricsPort ? [S.metricsPort.flag, String(values.server.metricsPort)] : [])
                + values.server.extraArgs
        case .llamaServer:
            // One KV pool for every slot: a single request may use the whole -c, as without --parallel.
            engineArgs(values) + ["--kv-unified", S.host.flag, "127.0.0.1", S.port.flag, String(backendPort)] + values.server.extraArgs
        case .ollama:
            ["serve"]
        case .externalOllama:
            []
        }
        var nodeSelector = values.nodeSelector
        if !values.nodeArch.isEmpty { nodeSelector["kubernetes.io/arch"] = values.nodeArch }

        let pool = values.usesInferencePool
        let autoscaling = !external && values.autoscaling.enabled
        // The pool's requests waiting plus running, so a pool whose slots are all busy but whose queue is
        // empty is not scaled down; the pods are the Deployment's (the picker exports no gemmactl_ metrics).
        let podSelector = "namespace=\"\(values.namespace)\",pod=~\"\(name)-.*\""
        let demandQuery = "sum(gemmactl_requests_queued{\(podSelector)} + gemmactl_requests_processing{\(podSelector)})"

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
                "common": strings(values.commonLabels),
                "pod": strings(values.podLabels),
            ]),
            "pod": .map([
                "annotations": strings(values.podAnnotations),
                "nodeSelector": strings(nodeSelector),
                "tolerations": encoded(values.tolerations),
                "affinity": encoded(values.affinity),
                "imagePullSecrets": .list(values.imagePullSecrets.map { .map(["name": .string($0)]) }),
                "terminationGracePeriodSeconds": .int(values.server.shutdownGraceSeconds + RenderValues.terminationMarginSeconds),
            ]),
            "names": .map([
                "app": .string(name),
                "service": .string(service),
                "models": .string("\(name)-models"),
                "apiKey": .string("\(name)-api-key"),
                "authConfig": .string("\(name)-auth-config"),
                "endpointPicker": .string("\(name)-epp"),
            ]),
            "image": .map([
                "ref": .string(values.mainImage),
                "pullPolicy": .string(values.image.pullPolicy),
            ]),
            "model": .map([
                "hfRepo": .string(values.model.hfRepo),
                "hfFile": .string(values.model.hfFile),
                "ollama": .string(values.model.ollama.joined(separator: " ")),
                // model.list: one pull of every model (its reference, once; the aliases are serve's).
                "list": .bool(values.servesModelList),
                "references": .list(values.model.specs.map(\.reference).uniqued().map(TemplateValue.string)),
            ]),
            "server": .map([
                "port": .int(values.server.port),
                "args": .list(args.map(TemplateValue.string)),
                "parallel": .string(String(values.server.parallel)),
                "ctxSize": .string(String(values.server.ctxSize)),
                "readyOnSlots": .bool(readyOnSlots),
                "readinessPath": .string(sidecar || readyOnSlots ? "/ready" : "/health"),
                "servesMetrics": .bool(values.servesMetricsPort),
                "metricsPort": .int(values.server.metricsPort),
                "metricsPortArg": .string(String(values.server.metricsPort)),
                "extraEnv": encoded(values.server.extraEnv),
            ]),
            "backend": .map([
                "port": .int(backendPort),
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
                "perPod": .bool(values.storage.perPod),
                "perPodChosen": .bool(values.storage.perPodChosen),
            ]),
            "secret": .map([
                "external": .bool(!external && values.secretSource == .externalSecret),
                "plain": .bool(!external && values.secretSource == .secret),
                "storeKind": .string(values.secret.storeKind),
                "storeName": .string(values.secret.storeName),
                "remoteKey": .string(values.secret.remoteKey),
                "previousRemoteKey": .string(values.secret.previousRemoteKey),
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
                // By address: a Service and EndpointSlice give agentgateway a DNS name; by hostname: TLS to it directly.
                "byAddress": .bool(!byHostname),
                "tls": .bool(byHostname),
                "host": .string(byHostname ? values.external.hostname : serviceHost),
                "routes": .list(routes),
            ]),
            "networkPolicy": .map([
                "enabled": .bool(!external && values.networkPolicy.enabled),
                "gatewayNamespace": .string(values.networkPolicy.gatewayNamespace),
            ]),
            // Replicas behind a pool: node drains take them down one at a time.
            "podDisruptionBudget": .map(["enabled": .bool(!external && (values.podDisruptionBudget.enabled || pool))]),
            "autoscaling": .map([
                "enabled": .bool(autoscaling),
                "hpa": .bool(autoscaling && values.autoscaling.scaler == "cpu"),
                "keda": .bool(autoscaling && values.autoscaling.scaler == "keda"),
                "minReplicas": .int(values.autoscaling.minReplicas),
                "maxReplicas": .int(values.autoscaling.maxReplicas),
                "targetCPUUtilization": .int(values.autoscaling.targetCPUUtilization),
                "prometheusAddress": .string(values.autoscaling.prometheusAddress),
                "prometheusNamespace": .string(values.autoscaling.prometheusNamespace),
                "query": .string(demandQuery),
                "targetRequests": .string(String(values.autoscaling.targetRequestsPerReplica)),
            ]),
            "workload": .map([
                // Several pods: replace them one at a time (never two copies of one pod's memory on a node).
                "rolling": .bool(!external && (values.replicas > 1 || values.autoscaling.enabled)),
                // Per-pod model volumes that outlive the pod need a StatefulSet's volumeClaimTemplates.
                "statefulSet": .bool(values.storage.perPod),
            ]),
            "pool": .map([
                "enabled": .bool(pool),
                "pickerImage": .string(values.inferencePool.pickerImage),
                "pickerResources": amounts(values.inferencePool.pickerRequests, values.inferencePool.pickerLimits),
            ]),
            "serviceAccount": .map(["create": .bool(!external && values.serviceAccount.enabled)]),
        ]
    }

    /// The model and engine flags llama-server and `gemmactl serve` share (serve takes llama-server's names);
    /// with `model.list`, serve's `-m ALIAS=REF` for each model (and `--models-max` when set).
    private static func engineArgs(_ values: RenderValues) -> [String] {
        typealias S = ServeSettings
        let server = values.server
        let models = values.servesModelList
            ? values.model.specs.flatMap { [S.model.flag, $0.description] }
                + (server.modelsMax > 0 ? [S.modelsMax.flag, String(server.modelsMax)] : [])
            : [S.hfRepo.flag, values.model.hfRepo, S.hfFile.flag, values.model.hfFile]
        return models + [S.contextSize.flag, String(server.ctxSize), S.gpuLayers.flag, String(server.gpuLayers),
                S.threads.flag, String(server.threads), S.batchSize.flag, String(server.batchSize),
                S.parallel.flag, String(server.parallel)]
    }

    private static func strings(_ map: [String: String]) -> TemplateValue {
        .map(map.mapValues(TemplateValue.string))
    }

    /// A Codable value as a template tree (through YAML, so strings stay strings and numbers numbers).
    static func encoded(_ value: some Encodable) -> TemplateValue {
        guard let text = try? YAMLEncoder().encode(value), let node = try? Yams.compose(yaml: text) else { return .map([:]) }
        func convert(_ node: Node) -> TemplateValue {
            switch node {
            case .mapping(let mapping):
                var map: [String: TemplateValue] = [:]
                for (key, value) in mapping where value.null == nil { map[key.string ?? ""] = convert(value) }
                return .map(map)
            case .sequence(let sequence):
                return .list(sequence.map(convert))
            case .scalar(let scalar):
                // The encoder quotes strings that would read as another type, so only plain scalars are numbers or booleans.
                guard scalar.style == .plain else { return .string(scalar.string) }
                if let bool = node.bool { return .bool(bool) }
                if let int = node.int { return .int(int) }
                return .string(scalar.string)
            case .alias:
                return .string("")
            }
        }
        return convert(node)
    }

    private static func amounts(_ requests: RenderValues.ResourceAmounts, _ limits: RenderValues.ResourceAmounts) -> TemplateValue {
        .map([
            "requests": .map(["memory": .string(requests.memory), "cpu": .string(requests.cpu)]),
            "limits": .map(["memory": .string(limits.memory), "cpu": .string(limits.cpu)]),
        ])
    }
}

private extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
