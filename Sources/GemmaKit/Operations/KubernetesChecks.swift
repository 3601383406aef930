import Foundation

/// The pod-level half of `gemmactl doctor`, read through `kubectl get … -o json`.
///
/// Never reads Secret data: a Secret's presence is checked with `-o name`.
public struct KubernetesChecks: Sendable {
    public let namespace: String?
    public let selector: String?
    public let runner: any CommandRunner

    public init(namespace: String?, selector: String?, runner: any CommandRunner) {
        self.namespace = namespace
        self.selector = selector
        self.runner = runner
    }

    var namespaceArguments: [String] { namespace.map { ["-n", $0] } ?? [] }
    var ns: String { namespace.map { " -n \($0)" } ?? "" }

    public func run() async -> [DoctorFinding] {
        guard let kubectl = runner.locate("kubectl") else {
            return [DoctorFinding("pods", .skip, "kubectl is not on PATH, so the pod checks were skipped",
                                  fix: "install kubectl (and point it at the cluster) to check pods, PVCs and Secrets")]
        }
        var arguments = ["get", "pods"] + namespaceArguments + ["-o", "json"]
        if let selector { arguments += ["-l", selector] }
        let pods: [[String: Any]]
        switch await getJSON(kubectl, arguments) {
        case .failure(let finding): return [finding]
        case .success(let json): pods = (json["items"] as? [[String: Any]]) ?? []
        }
        guard !pods.isEmpty else {
            return [DoctorFinding("pods", .fail, "no pods\(selector.map { " match -l \($0)" } ?? "")\(namespace.map { " in namespace \($0)" } ?? "")",
                                  fix: "check --selector and --namespace against the Deployment's labels",
                                  commands: ["kubectl get pods\(ns) --show-labels", "kubectl get deploy\(ns)"])]
        }
        var findings = pods.map(podFinding)
        var claims: [String] = []
        var secrets: [String] = []
        for pod in pods {
            let spec = pod["spec"] as? [String: Any] ?? [:]
            for volume in spec["volumes"] as? [[String: Any]] ?? [] {
                if let claim = (volume["persistentVolumeClaim"] as? [String: Any])?["claimName"] as? String { claims.append(claim) }
                if let secret = (volume["secret"] as? [String: Any])?["secretName"] as? String { secrets.append(secret) }
            }
            for container in (spec["containers"] as? [[String: Any]] ?? []) + (spec["initContainers"] as? [[String: Any]] ?? []) {
                for env in container["env"] as? [[String: Any]] ?? [] {
                    if let ref = (env["valueFrom"] as? [String: Any])?["secretKeyRef"] as? [String: Any], let name = ref["name"] as? String {
                        secrets.append(name)
                    }
                }
                for source in container["envFrom"] as? [[String: Any]] ?? [] {
                    if let name = (source["secretRef"] as? [String: Any])?["name"] as? String { secrets.append(name) }
                }
            }
        }
        for claim in unique(claims) { findings.append(await pvcFinding(kubectl, claim)) }
        for secret in unique(secrets) { findings.append(await secretFinding(kubectl, secret)) }
        return findings
    }

    func unique(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    enum Lookup { case success([String: Any]), failure(DoctorFinding) }

    func getJSON(_ kubectl: String, _ arguments: [String]) async -> Lookup {
        let command = "kubectl " + arguments.joined(separator: " ")
        do {
            let result = try await runner.run(kubectl, arguments, stdin: nil)
            guard result.status == 0 else {
                return .failure(DoctorFinding("kubectl", .fail, "`\(command)` failed (exit \(result.status)): \(result.stderrText)",
                                              fix: "check the cluster context and your permissions", commands: ["kubectl config current-context", "kubectl auth can-i list pods\(ns)"]))
            }
            guard let json = try? JSONSerialization.jsonObject(with: result.stdout) as? [String: Any] else {
                return .failure(DoctorFinding("kubectl", .fail, "`\(command)` did not print a JSON object", fix: "check kubectl works: kubectl version"))
            }
            return .success(json)
        } catch {
            return .failure(DoctorFinding("kubectl", .fail, "cannot run kubectl: \(error)", fix: "check kubectl works: kubectl version --client"))
        }
    }

    /// One finding for a pod: phase, readiness, restarts, OOMKilled, CrashLoopBackOff, image pulls.
    func podFinding(_ pod: [String: Any]) -> DoctorFinding {
        let name = (pod["metadata"] as? [String: Any])?["name"] as? String ?? "?"
        let status = pod["status"] as? [String: Any] ?? [:]
        let phase = status["phase"] as? String ?? "Unknown"
        let containers = (status["containerStatuses"] as? [[String: Any]] ?? []) + (status["initContainerStatuses"] as? [[String: Any]] ?? [])
        let look = ["kubectl describe pod \(name)\(ns)", "kubectl logs \(name)\(ns) --previous --tail=50",
                    "kubectl get events\(ns) --field-selector involvedObject.name=\(name) --sort-by=.lastTimestamp"]
        var problems: [String] = []
        var fixes: [String] = []
        var restarts = 0
        for container in containers {
            let cname = container["name"] as? String ?? "?"
            restarts += jsonInt(container["restartCount"]) ?? 0
            let waiting = (container["state"] as? [String: Any])?["waiting"] as? [String: Any]
            let lastTerminated = (container["lastState"] as? [String: Any])?["terminated"] as? [String: Any]
            let terminated = (container["state"] as? [String: Any])?["terminated"] as? [String: Any]
            if let reason = waiting?["reason"] as? String {
                switch reason {
                case "CrashLoopBackOff":
                    problems.append("container \(cname) is in CrashLoopBackOff")
                    fixes.append("read the previous container's logs (below) for the error it exits with")
                case "ImagePullBackOff", "ErrImagePull", "InvalidImageName":
                    problems.append("container \(cname) cannot pull its image (\(reason): \(waiting?["message"] as? String ?? ""))")
                    fixes.append("check the image name and tag, and the registry credentials (imagePullSecrets)")
                case "CreateContainerConfigError":
                    problems.append("container \(cname) cannot start: \(waiting?["message"] as? String ?? reason)")
                    fixes.append("a referenced Secret or ConfigMap key is missing: check the Secret checks below")
                case "ContainerCreating", "PodInitializing":
                    break
                default:
                    problems.append("container \(cname) is waiting: \(reason)")
                }
            }
            for state in [lastTerminated, terminated].compactMap({ $0 }) where state["reason"] as? String == "OOMKilled" {
                problems.append("container \(cname) was OOMKilled")
                fixes.append("raise limits.memory or lower -c / use a smaller quantization (gemmactl doctor --memory-limit … shows the need)")
                break
            }
        }
        if phase != "Running" && phase != "Succeeded" {
            problems.insert("phase \(phase)\((status["reason"] as? String).map { " (\($0))" } ?? "")", at: 0)
            if phase == "Pending" { fixes.append("a Pending pod waits for a node with enough CPU/memory or for its PVC: see the events") }
        }
        let unready = containers.filter { jsonBool($0["ready"]) == false }.compactMap { $0["name"] as? String }
        if phase == "Running" && !unready.isEmpty && problems.isEmpty {
            problems.append("container \(unready.joined(separator: ", ")) not ready (the model may still be loading)")
            fixes.append("wait for the readiness probe, or check /health: gemmactl health --wait")
        }
        if restarts >= 3 && problems.isEmpty {
            problems.append("\(restarts) restarts")
            fixes.append("read the previous container's logs")
        }
        if problems.isEmpty {
            return DoctorFinding("pod \(name)", .pass, "\(phase), ready\(restarts > 0 ? ", \(restarts) restart\(restarts == 1 ? "" : "s")" : "")")
        }
        var seen = Set<String>()
        return DoctorFinding("pod \(name)", .fail, problems.joined(separator: "; ") + (restarts > 0 ? " (\(restarts) restarts)" : ""),
                             fix: fixes.filter { seen.insert($0).inserted }.joined(separator: "; "), commands: look)
    }

    func pvcFinding(_ kubectl: String, _ claim: String) async -> DoctorFinding {
        switch await getJSON(kubectl, ["get", "pvc", claim] + namespaceArguments + ["-o", "json"]) {
        case .failure:
            return DoctorFinding("pvc \(claim)", .fail, "PersistentVolumeClaim \(claim) is missing or unreadable",
                                 fix: "create the claim the Deployment mounts, or fix its name", commands: ["kubectl get pvc\(ns)"])
        case .success(let json):
            let phase = (json["status"] as? [String: Any])?["phase"] as? String ?? "Unknown"
            if phase == "Bound" { return DoctorFinding("pvc \(claim)", .pass, "Bound") }
            return DoctorFinding("pvc \(claim)", .fail, "PersistentVolumeClaim \(claim) is \(phase), not Bound",
                                 fix: "check the StorageClass exists and can provision in this zone",
                                 commands: ["kubectl describe pvc \(claim)\(ns)", "kubectl get storageclass"])
        }
    }

    func secretFinding(_ kubectl: String, _ secret: String) async -> DoctorFinding {
        let arguments = ["get", "secret", secret] + namespaceArguments + ["--ignore-not-found", "-o", "name"]
        guard let result = try? await runner.run(kubectl, arguments, stdin: nil), result.status == 0 else {
            return DoctorFinding("secret \(secret)", .fail, "cannot look up Secret \(secret)", fix: "check your permissions: kubectl auth can-i get secrets\(ns)")
        }
        if String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return DoctorFinding("secret \(secret)", .fail, "Secret \(secret) does not exist",
                                 fix: "sync the ExternalSecret (argocd app sync managed-secrets) or create it: gemmactl rotate-key --k8s-secret \(secret)\(ns) --apply",
                                 commands: ["kubectl get externalsecret\(ns)", "kubectl describe externalsecret\(ns)"])
        }
        return DoctorFinding("secret \(secret)", .pass, "present")
    }
}
