import Foundation

/// The deployment layouts `gemmactl render` knows.
public enum DeploymentProfile: String, CaseIterable, Codable, Sendable {
    /// One container running `gemmactl serve`, auth in-process.
    case gemmactl
    /// Upstream `llama-server` behind an OpenResty Bearer-auth sidecar.
    case llamaServer = "llama-server"
    /// Ollama behind the same sidecar.
    case ollama
    /// An Ollama host outside the cluster, reached through agentgateway.
    case externalOllama = "external-ollama"
}

/// Where the API key Secret comes from.
public enum SecretSource: String, CaseIterable, Codable, Sendable {
    /// An ExternalSecret synced from a (Cluster)SecretStore.
    case externalSecret = "external-secret"
    /// A plain Secret carrying the key read from `--api-key-file`.
    case secret
    /// No Secret is rendered: create `<name>-api-key` yourself.
    case none
}

/// Everything `gemmactl render` substitutes into the templates.
///
/// Every field has a default, so the defaults double as the schema of the values file: a key that is
/// not here is an unknown field. Field order is the order `--print-values` prints.
public struct RenderValues: Codable, Equatable, Sendable {
    public struct Image: Codable, Equatable, Sendable {
        /// Empty: the profile's default image (`ghcr.io/gemmactl/gemmactl` for the gemmactl profile).
        public var repository = ""
        /// Empty: the profile's default tag; for the gemmactl profile, this gemmactl's version.
        public var tag = ""
        public var pullPolicy = "IfNotPresent"

        /// Sets repository and tag from a reference: `registry:5000/team/gemmactl:0.1` splits at the
        /// tag's colon, `repo@sha256:…` at the digest; without either, the tag is left as it is.
        mutating func set(reference: String) {
            if let at = reference.firstIndex(of: "@") {
                repository = String(reference[..<at])
                tag = String(reference[reference.index(after: at)...])
            } else if let colon = reference.lastIndex(of: ":"), !reference[colon...].contains("/") {
                repository = String(reference[..<colon])
                tag = String(reference[reference.index(after: colon)...])
            }
        }

        /// `--image`: the whole reference; one without a tag clears the tag.
        public mutating func replace(with reference: String) {
            repository = reference
            tag = ""
            set(reference: reference)
        }
    }

    public struct Model: Codable, Equatable, Sendable {
        /// Hugging Face repository of the GGUF file (gemmactl and llama-server profiles).
        public var hfRepo = "ggml-org/gemma-3-1b-it-GGUF"
        public var hfFile = "gemma-3-1b-it-Q4_K_M.gguf"
        /// The Ollama models pulled onto the volume before the server starts (ollama profile).
        public var ollama = ["gemma3:1b"]
        /// Several models in one gemmactl pod, each `[ALIAS=]REF` as `serve -m` takes it (REF: `ORG/REPO[:QUANT]`
        /// or `ollama://NAME:TAG`): pulled onto the volume, all served, requests pick one by `model`. Empty: the
        /// one model `hfRepo`/`hfFile`.
        public var list: [String] = []

        /// `list` parsed; call after `validate()`.
        public var specs: [ModelSpec] { list.compactMap { try? ModelSpec.parse($0) } }
    }

    public struct Server: Codable, Equatable, Sendable {
        public var ctxSize = 4096
        public var threads = 2
        public var batchSize = 512
        public var parallel = 2
        public var gpuLayers = 0
        /// The port the Service and the pod expose (the auth sidecar's port for llama-server and ollama).
        public var port = 8080
        /// The port llama-server listens on, on localhost, behind the sidecar.
        public var backendPort = 8000
        /// `health`: ready once the model is loaded; `slots`: also out of the Service while every slot is
        /// busy (the public `/ready`, llama-server and gemmactl profiles).
        public var readinessCheck = "health"
        /// Seconds a stopping server lets requests in flight finish; the pod's termination grace period
        /// adds `terminationMarginSeconds` so the kubelet's SIGKILL never lands while they drain.
        public var shutdownGraceSeconds = 30
        /// The unauthenticated `/metrics` listener (`gemmactl serve --metrics-port`) the endpoint picker and
        /// KEDA's Prometheus read; opened only when one of them is rendered.
        public var metricsPort = 9090
        /// With `model.list`: the most models loaded at once (`serve --models-max`); 0: serve's default, 4.
        public var modelsMax = 0
        /// More arguments for the server (gemmactl serve or llama-server), after the ones the values set.
        public var extraArgs: [String] = []
        /// More environment variables for the server container and the model-pull init container.
        public var extraEnv: [EnvVar] = []
    }

    public struct ResourceAmounts: Codable, Equatable, Sendable {
        public var memory: String
        public var cpu: String
    }

    public struct Resources: Codable, Equatable, Sendable {
        public var requests = ResourceAmounts(memory: "2Gi", cpu: "1200m")
        public var limits = ResourceAmounts(memory: "4Gi", cpu: "2")
    }

    public struct AuthProxy: Codable, Equatable, Sendable {
        public var image = "openresty/openresty:alpine"
        public var requests = ResourceAmounts(memory: "32Mi", cpu: "50m")
        public var limits = ResourceAmounts(memory: "128Mi", cpu: "500m")
    }

    public struct Storage: Codable, Equatable, Sendable {
        public var size = "5Gi"
        /// Empty: the cluster's default storage class.
        public var storageClass = ""
        /// ReadWriteOnce; ReadWriteMany where pods on several nodes share the model volume. Empty (the default):
        /// ReadWriteOnce, with `perPod` turned on when there are several pods (replicas or autoscaling).
        public var accessMode = ""
        /// Each pod gets its own model volume (a StatefulSet's volumeClaimTemplates, kept across restarts) instead
        /// of one shared PersistentVolumeClaim: several replicas without ReadWriteMany storage.
        public var perPod = false
        /// Whether `resolved()` turned `perPod` on (for several pods and no access mode), said in the manifests.
        public var perPodChosen = false

        enum CodingKeys: String, CodingKey { case size, storageClass, accessMode, perPod }
    }

    public struct Secret: Codable, Equatable, Sendable {
        public var source = SecretSource.externalSecret.rawValue
        /// ClusterSecretStore or SecretStore.
        public var storeKind = "ClusterSecretStore"
        public var storeName = "default"
        public var remoteKey = "gemma-api-key"
        public var refreshInterval = "1h"
        /// For `source: secret`: the file holding the key (read at render time, never printed).
        public var apiKeyFile = ""
        /// For `source: external-secret`: a remote key synced into the Secret's `api-key-previous` item,
        /// which the auth sidecar accepts too while clients move to the new key. Empty: none.
        public var previousRemoteKey = ""
    }

    public struct Gateway: Codable, Equatable, Sendable {
        public var enabled = true
        /// Empty: the profile's default, `eg` (Envoy Gateway) or `agentgateway-proxy` for external-ollama.
        public var name = ""
        /// Empty: `envoy-gateway-system`, or `agentgateway-system` for external-ollama.
        public var namespace = ""
        /// The listener on the Gateway; empty: any.
        public var sectionName = ""
        /// Empty: the route matches every hostname the listener accepts.
        public var hostname = ""
        public var pathPrefix = "/"
        /// Envoy Gateway cuts requests after 15 s by default, which ends SSE streams.
        public var requestTimeout = "600s"
    }

    public struct External: Codable, Equatable, Sendable {
        /// The Ollama host's IP (external-ollama needs this or `hostname`).
        public var ip = ""
        /// The Ollama host's DNS name, reached over TLS with this name as SNI (an ngrok or Tailscale URL's host).
        public var hostname = ""
        /// 0: 11434 for `ip`, 443 for `hostname`.
        public var port = 0
        /// One AgentgatewayBackend and one route per model; `ROUTE=MODEL` names the route.
        public var models = ["gemma3:1b"]
        /// Render v1 Endpoints (deprecated since Kubernetes 1.33) instead of an EndpointSlice.
        public var legacyEndpoints = false
        /// Route path prefix before the model's name: /ollama/<route>.
        public var pathPrefix = "/ollama"
        /// The cluster's DNS domain, for the Service name agentgateway connects to.
        public var clusterDomain = "cluster.local"
    }

    public struct Toggle: Codable, Equatable, Sendable {
        public var enabled = false
    }

    public struct NetworkPolicy: Codable, Equatable, Sendable {
        public var enabled = true
        /// The namespace of the gateway's data-plane (proxy) pods, the only traffic let in. Empty: where
        /// Envoy Gateway runs them, `envoy-gateway-system`, whichever namespace the Gateway object is in.
        public var gatewayNamespace = ""
    }

    public struct Autoscaling: Codable, Equatable, Sendable {
        public var enabled = false
        public var minReplicas = 1
        public var maxReplicas = 3
        /// `cpu`: a HorizontalPodAutoscaler on CPU use; `keda`: a KEDA ScaledObject on the pool's requests
        /// waiting and running, read from Prometheus (gemmactl profile).
        public var scaler = "cpu"
        public var targetCPUUtilization = 80
        /// For `keda`: the Prometheus that scrapes the pods' metrics port.
        public var prometheusAddress = "http://prometheus-operated.monitoring.svc:9090"
        /// For `keda`: that Prometheus' namespace, let through the NetworkPolicy to the metrics port.
        public var prometheusNamespace = "monitoring"
        /// For `keda`: requests (waiting plus running) one replica should carry; 0: its slots, `server.parallel`.
        public var targetRequestsPerReplica = 0
    }

    /// Scale-out of the gemmactl profile: with more than one replica (or autoscaling), the HTTPRoute sends
    /// requests to an InferencePool whose endpoint picker (Gateway API Inference Extension) chooses a pod by
    /// queue, KV-cache use and prompt-prefix affinity, from each pod's metrics port.
    public struct InferencePool: Codable, Equatable, Sendable {
        public var enabled = true
        /// The endpoint picker's image; its config and flags are written for this version.
        public var pickerImage = "registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0"
        public var pickerRequests = ResourceAmounts(memory: "128Mi", cpu: "100m")
        public var pickerLimits = ResourceAmounts(memory: "512Mi", cpu: "1")
    }

    public var name = "gemma"
    public var namespace = "gemma"
    public var createNamespace = true
    public var profile = DeploymentProfile.gemmactl.rawValue
    public var replicas = 1
    public var image = Image()
    public var model = Model()
    public var server = Server()
    public var resources = Resources()
    public var authProxy = AuthProxy()
    public var storage = Storage()
    public var secret = Secret()
    public var gateway = Gateway()
    public var external = External()
    /// Labels on every object (and the pods).
    public var commonLabels: [String: String] = [:]
    /// Labels on the pods only, e.g. `app: gemma` for `kubectl get pods -l app=gemma`.
    public var podLabels: [String: String] = [:]
    public var podAnnotations: [String: String] = [:]
    /// Empty, `amd64` or `arm64`: pins pods to nodes of that architecture.
    public var nodeArch = ""
    public var nodeSelector: [String: String] = [:]
    public var tolerations: [Toleration] = []
    public var affinity = Affinity()
    /// Secrets holding registry credentials for a private image.
    public var imagePullSecrets: [String] = []
    public var networkPolicy = NetworkPolicy()
    public var podDisruptionBudget = Toggle()
    public var autoscaling = Autoscaling()
    public var inferencePool = InferencePool()
    public var serviceAccount = Toggle()

    public init() {}

    /// Whether the pods run behind an InferencePool and its endpoint picker: the gemmactl profile, routed
    /// through a gateway, with more than one replica or autoscaling.
    public var usesInferencePool: Bool {
        inferencePool.enabled && gateway.enabled && deploymentProfile == .gemmactl
            && (replicas > 1 || autoscaling.enabled)
    }

    /// The most pods the workload runs at once: `replicas`, or with autoscaling its maximum.
    public var mostPods: Int { autoscaling.enabled ? autoscaling.maxReplicas : replicas }

    /// Whether the pods open `server.metricsPort`: for the endpoint picker or for KEDA's Prometheus.
    public var servesMetricsPort: Bool {
        deploymentProfile == .gemmactl && (usesInferencePool || autoscaling.enabled && autoscaling.scaler == "keda")
    }

    /// What `gemmactl plan` plans for these values: the server's context, slots and micro-batch.
    public var planOptions: PlanOptions {
        PlanOptions(contextSize: server.ctxSize, parallel: server.parallel,
                    microBatch: ContextOptions(batchSize: server.batchSize).microBatchSize)
    }

    /// Whether the gemmactl pod serves `model.list` rather than the one model `hfRepo`/`hfFile`.
    public var servesModelList: Bool { deploymentProfile == .gemmactl && !model.list.isEmpty }

    /// The profile, once `validate()` has passed.
    public var deploymentProfile: DeploymentProfile { DeploymentProfile(rawValue: profile) ?? .gemmactl }
    public var secretSource: SecretSource { SecretSource(rawValue: secret.source) ?? .externalSecret }

    /// The values with every profile-dependent default filled in: what `--print-values` shows.
    public func resolved() -> RenderValues {
        var values = self
        values.image.set(reference: mainImage)
        let external = deploymentProfile == .externalOllama
        if gateway.name.isEmpty { values.gateway.name = external ? "agentgateway-proxy" : "eg" }
        if gateway.namespace.isEmpty { values.gateway.namespace = external ? "agentgateway-system" : "envoy-gateway-system" }
        if networkPolicy.gatewayNamespace.isEmpty { values.networkPolicy.gatewayNamespace = "envoy-gateway-system" }
        if autoscaling.targetRequestsPerReplica == 0 { values.autoscaling.targetRequestsPerReplica = server.parallel }
        // Only where it is rendered: printed for another profile, 11434 would stick when the values come back
        // with a hostname (443).
        if self.external.port == 0, external { values.external.port = self.external.hostname.isEmpty ? 11434 : 443 }
        if storage.accessMode.isEmpty {
            values.storage.accessMode = "ReadWriteOnce"
            // One ReadWriteOnce volume cannot be mounted by pods on several nodes: each pod gets its own.
            if mostPods > 1, !external, !storage.perPod {
                values.storage.perPod = true
                values.storage.perPodChosen = true
            }
        }
        return values
    }

    /// The gemmactl image `render` puts in the manifests when `image.repository` is empty; its tag is the
    /// version `gemmactl --version` prints.
    public static let defaultGemmactlRepository = "ghcr.io/gemmactl/gemmactl"

    /// Seconds the pod's termination grace period adds to `server.shutdownGraceSeconds`: the server's own
    /// drain ends, then it exits and the sidecar stops, before the kubelet's SIGKILL.
    public static let terminationMarginSeconds = 15

    /// The image the profile's main container runs: `image.repository:image.tag`, each defaulting per profile.
    /// The gemmactl profile's tag defaults to this gemmactl's version, with any repository.
    public var mainImage: String {
        let (repository, tag): (String, String) = switch deploymentProfile {
        case .gemmactl: (Self.defaultGemmactlRepository, GemmactlVersion.current)
        case .llamaServer: ("ghcr.io/ggml-org/llama.cpp", "server")
        case .ollama, .externalOllama: ("ollama/ollama", "latest")
        }
        let repo = image.repository.isEmpty ? repository : image.repository
        let ownTag = image.repository.isEmpty || deploymentProfile == .gemmactl ? tag : "latest"
        let chosenTag = image.tag.isEmpty ? ownTag : image.tag
        return chosenTag.hasPrefix("sha256:") ? "\(repo)@\(chosenTag)" : "\(repo):\(chosenTag)"
    }
}
