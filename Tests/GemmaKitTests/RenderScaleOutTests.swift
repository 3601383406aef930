import Foundation
import Testing
import Yams
@testable import GemmaKit

/// `render --replicas N` for the gemmactl profile: the pods behind an InferencePool and its endpoint picker.
@Suite("gemmactl render: replicas behind an InferencePool")
struct RenderScaleOutTests {
    private func objects(_ values: RenderValues) throws -> [(kind: String, name: String, node: Node)] {
        try renderer.render(values.resolved()).map { ($0.kind, $0.name, try #require(try Yams.compose(yaml: $0.text))) }
    }

    private func one(_ objects: [(kind: String, name: String, node: Node)], _ kind: String, _ name: String? = nil) throws -> Node {
        try #require(objects.first { $0.kind == kind && (name == nil || $0.name == name) }?.node, "no \(kind) \(name ?? "")")
    }

    private func strings(_ node: Node?) -> [String] { node?.sequence?.compactMap(\.string) ?? [] }

    @Test("the pool selects the server's pods and port; the route, picker Service and metrics port line up")
    func poolWiring() throws {
        let all = try objects(RenderScenario.gemmactlPool.values)
        #expect(all.map(\.kind) == ["Namespace", "ExternalSecret", "Service", "StatefulSet", "InferencePool", "ServiceAccount", "Role",
                                    "RoleBinding", "ConfigMap", "Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget",
                                    "NetworkPolicy", "HTTPRoute"])
        let server = try one(all, "StatefulSet", "gemma"), pool = try one(all, "InferencePool")
        let podLabels = try #require(server["spec"]?["template"]?["metadata"]?["labels"]?.mapping)
        let selector = try #require(pool["spec"]?["selector"]?["matchLabels"]?.mapping)
        #expect(selector == server["spec"]?["selector"]?["matchLabels"]?.mapping)
        #expect(selector.allSatisfy { podLabels[$0.key] == $0.value })
        #expect(pool["spec"]?["targetPorts"]?[0]?["number"]?.int == 8080)
        #expect(server["spec"]?["replicas"]?.int == 3)
        // Each pod's own model volume, kept across restarts: no shared claim, and the pull writes into it.
        #expect(!all.contains { $0.kind == "PersistentVolumeClaim" })
        let claim = try #require(server["spec"]?["volumeClaimTemplates"]?[0])
        #expect(claim["metadata"]?["name"]?.string == "models")
        #expect(strings(claim["spec"]?["accessModes"]) == ["ReadWriteOnce"])
        #expect(server["spec"]?["template"]?["spec"]?["volumes"]?.sequence?.contains { $0["name"]?.string == "models" } == false)
        let mounts = try #require(server["spec"]?["template"]?["spec"]?["initContainers"]?[0]?["volumeMounts"]?.sequence)
        #expect(mounts.contains { $0["name"]?.string == "models" })
        #expect(server["spec"]?["serviceName"]?.string == "gemma")
        #expect(server["spec"]?["podManagementPolicy"]?.string == "Parallel")
        #expect(server["spec"]?["persistentVolumeClaimRetentionPolicy"]?["whenScaled"]?.string == "Retain")

        let container = try #require(server["spec"]?["template"]?["spec"]?["containers"]?[0])
        let args = strings(container["args"])
        #expect(args.firstIndex(of: "--metrics-port").map { args[$0 + 1] } == "9090")
        #expect(container["ports"]?.sequence?.contains { $0["name"]?.string == "metrics" && $0["containerPort"]?.int == 9090 } == true)

        // The pool names the picker's Service and port; the picker's pods are not in the pool.
        let picker = try one(all, "Deployment", "gemma-epp"), pickerService = try one(all, "Service", "gemma-epp")
        #expect(pool["spec"]?["endpointPickerRef"]?["name"]?.string == "gemma-epp")
        #expect(pool["spec"]?["endpointPickerRef"]?["port"]?["number"]?.int == pickerService["spec"]?["ports"]?[0]?["port"]?.int)
        let pickerLabels = try #require(picker["spec"]?["template"]?["metadata"]?["labels"]?.mapping)
        #expect(!selector.allSatisfy { pickerLabels[$0.key] == $0.value })
        #expect(pickerService["spec"]?["selector"]?.mapping.map { $0.allSatisfy { pickerLabels[$0.key] == $0.value } } == true)
        let pickerArgs = strings(picker["spec"]?["template"]?["spec"]?["containers"]?[0]?["args"])
        #expect(pickerArgs.firstIndex(of: "--pool-name").map { pickerArgs[$0 + 1] } == "gemma")
        #expect(pickerArgs.firstIndex(of: "--pool-namespace").map { pickerArgs[$0 + 1] } == "gemma")
        #expect(pickerArgs.firstIndex(of: "--model-server-metrics-port").map { pickerArgs[$0 + 1] } == "9090")
        #expect(picker["spec"]?["template"]?["spec"]?["serviceAccountName"]?.string == "gemma-epp")

        let route = try one(all, "HTTPRoute")
        let backend = try #require(route["spec"]?["rules"]?[0]?["backendRefs"]?[0])
        #expect(backend["group"]?.string == "inference.networking.k8s.io")
        #expect(backend["kind"]?.string == "InferencePool")
        #expect(backend["name"]?.string == "gemma")

        // The picker, and nothing else, reaches the metrics port; only the gateway reaches the picker.
        let policy = try one(all, "NetworkPolicy", "gemma")
        let metricsRule = try #require(policy["spec"]?["ingress"]?[1])
        #expect(metricsRule["ports"]?[0]?["port"]?.int == 9090)
        #expect(metricsRule["from"]?.sequence?.count == 1)
        let metricsPeer = try #require(metricsRule["from"]?[0]?["podSelector"]?["matchLabels"]?.mapping)
        #expect(metricsPeer.allSatisfy { pickerLabels[$0.key] == $0.value })
        let pickerPolicy = try one(all, "NetworkPolicy", "gemma-epp")
        #expect(pickerPolicy["spec"]?["ingress"]?[0]?["ports"]?[0]?["port"]?.int == 9002)
    }

    @Test("the picker reads the names gemmactl serve exports for the protocol's gauges")
    func pickerConfigMatchesServerMetrics() throws {
        let config = try one(try objects(RenderScenario.gemmactlPool.values), "ConfigMap", "gemma-epp")
        let text = try #require(config["data"]?["epp-config.yaml"]?.string)
        let picker = try #require(try Yams.compose(yaml: text))
        #expect(picker["kind"]?.string == "EndpointPickerConfig")
        let plugins = try #require(picker["plugins"]?.sequence)
        let extractor = try #require(plugins.first { $0["type"]?.string == "core-metrics-extractor" }?["parameters"])
        #expect(extractor["defaultEngine"]?.string == "gemmactl")
        let engine = try #require(extractor["engineConfigs"]?.sequence?.first { $0["name"]?.string == "gemmactl" })
        // A model's series exist once the server knows the model: scrape one, not loaded.
        let host = ModelHost(configuration: ServerConfiguration(modelPath: "not-loaded.gguf"), state: .unloaded)
        let exported = String(decoding: ServerMetrics().render(hosts: [host], selected: host), as: UTF8.self)
        for key in ["queuedRequestsSpec", "runningRequestsSpec", "kvUsageSpec", "cacheBlockSizeSpec", "cacheNumBlocksSpec"] {
            let name = try #require(engine[key]?.string, "\(key) missing")
            #expect(exported.contains("# TYPE \(name) gauge"), "\(key): gemmactl serve exports no gauge \(name)")
        }
        #expect(engine["loraSpec"]?.string == "" && engine["cacheInfoSpec"]?.string == "")
        let weights = picker["schedulingProfiles"]?[0]?["plugins"]?.sequence?.reduce(into: [String: Int]()) {
            $0[$1["pluginRef"]?.string ?? ""] = $1["weight"]?.int
        }
        #expect(weights == ["queue-scorer": 2, "kv-cache-utilization-scorer": 2, "prefix-cache-scorer": 3])
        #expect(picker["dataLayer"]?["sources"]?[0]?["extractors"]?[0]?["pluginRef"]?.string == "core-metrics-extractor")
    }

    @Test("one replica, another profile, no gateway or inferencePool.enabled=false: the Service, no pool")
    func noPool() throws {
        func hasPool(_ configure: (inout RenderValues) -> Void) throws -> Bool {
            var values = RenderValues()
            values.storage.perPod = true
            configure(&values)
            let all = try objects(values)
            return all.contains { $0.kind == "InferencePool" } || all.contains { $0.name == "gemma-epp" }
        }
        #expect(try hasPool { $0.replicas = 3 })
        #expect(try !hasPool { _ in })
        #expect(try !hasPool { $0.replicas = 3; $0.inferencePool.enabled = false })
        #expect(try !hasPool { $0.replicas = 3; $0.gateway.enabled = false })
        #expect(try !hasPool { $0.replicas = 3; $0.profile = "llama-server" })
    }

    @Test("autoscaling: KEDA on the pool's waiting and running requests, or the HPA on CPU")
    func autoscaling() throws {
        let keda = try objects(RenderScenario.gemmactlPoolKEDA.values)
        #expect(!keda.contains { $0.kind == "HorizontalPodAutoscaler" })
        let scaled = try one(keda, "ScaledObject")
        #expect(scaled["spec"]?["scaleTargetRef"]?["kind"]?.string == "Deployment")
        #expect(scaled["spec"]?["scaleTargetRef"]?["name"]?.string == "gemma")
        #expect(scaled["spec"]?["minReplicaCount"]?.int == 1 && scaled["spec"]?["maxReplicaCount"]?.int == 4)
        let trigger = try #require(scaled["spec"]?["triggers"]?[0])
        #expect(trigger["type"]?.string == "prometheus")
        let query = try #require(trigger["metadata"]?["query"]?.string)
        #expect(query.contains("gemmactl_requests_queued{namespace=\"gemma\",pod=~\"gemma-.*\"}"))
        #expect(query.contains("gemmactl_requests_processing"))
        #expect(trigger["metadata"]?["threshold"]?.string == "2")  // server.parallel
        #expect(try one(keda, "Deployment", "gemma")["spec"]?["replicas"] == nil)
        // KEDA's Prometheus reaches the metrics port too.
        let from = try one(keda, "NetworkPolicy", "gemma")["spec"]?["ingress"]?[1]?["from"]?.sequence ?? []
        #expect(from.contains { $0["namespaceSelector"]?["matchLabels"]?["kubernetes.io/metadata.name"]?.string == "monitoring" })

        var cpu = RenderScenario.gemmactlPoolKEDA.values
        cpu.autoscaling.scaler = "cpu"
        let hpa = try objects(cpu)
        #expect(!hpa.contains { $0.kind == "ScaledObject" })
        #expect(try one(hpa, "HorizontalPodAutoscaler")["spec"]?["scaleTargetRef"]?["name"]?.string == "gemma")

        // Per-pod volumes: both scalers target the StatefulSet, which has no replica count of its own.
        for scaler in ["keda", "cpu"] {
            var perPod = RenderScenario.gemmactlPoolKEDA.values
            perPod.autoscaling.scaler = scaler
            perPod.storage.accessMode = "ReadWriteOnce"
            perPod.storage.perPod = true
            let all = try objects(perPod)
            let target = try one(all, scaler == "keda" ? "ScaledObject" : "HorizontalPodAutoscaler")["spec"]?["scaleTargetRef"]
            #expect(target?["kind"]?.string == "StatefulSet" && target?["name"]?.string == "gemma")
            #expect(try one(all, "StatefulSet", "gemma")["spec"]?["replicas"] == nil)
        }
    }

    @Test("bad scale-out values name the field", arguments: [
        (["autoscaling.enabled=true", "autoscaling.scaler=hpa"], "autoscaling.scaler 'hpa'"),
        (["autoscaling.enabled=true", "autoscaling.scaler=keda", "profile=llama-server"], "autoscaling.scaler 'keda'"),
        (["autoscaling.enabled=true", "autoscaling.scaler=keda", "autoscaling.prometheusAddress=prometheus:9090"],
         "autoscaling.prometheusAddress 'prometheus:9090'"),
        (["replicas=3", "server.metricsPort=8080"], "server.metricsPort and server.port are both 8080"),
        (["replicas=3", "inferencePool.pickerImage=Not An Image"], "inferencePool.pickerImage"),
        (["replicas=3", "server.extraArgs={--metrics-port,9100}"], "'--metrics-port' is set by server.metricsPort"),
    ])
    func badValues(sets: [String], message: String) throws {
        let values = try ValuesLoader.load(file: nil, sets: sets + ["storage.perPod=true"]).resolved()
        let error = try #require(throws: InputError.self) { try values.validate() }
        #expect(error.message.contains(message), "\(error.message)")
    }
}
