import Foundation

// The Kubernetes pod fields `gemmactl render` passes through from the values: the same field names as the
// Kubernetes API, so a seed's YAML can be pasted in. Every field is optional where Kubernetes' is; a field
// Kubernetes does not have is an unknown-field error (ValuesLoader compares the decoded values with the input).

extension RenderValues {
    /// An environment variable: `value`, or `valueFrom` a Secret, ConfigMap or the pod's own fields.
    public struct EnvVar: Codable, Equatable, Sendable {
        public var name: String
        public var value: String?
        public var valueFrom: EnvVarSource?

        public init(name: String, value: String? = nil, valueFrom: EnvVarSource? = nil) {
            self.name = name
            self.value = value
            self.valueFrom = valueFrom
        }
    }

    /// Exactly one of its fields.
    public struct EnvVarSource: Codable, Equatable, Sendable {
        public var secretKeyRef: KeySelector?
        public var configMapKeyRef: KeySelector?
        public var fieldRef: FieldSelector?

        public init(secretKeyRef: KeySelector? = nil, configMapKeyRef: KeySelector? = nil, fieldRef: FieldSelector? = nil) {
            self.secretKeyRef = secretKeyRef
            self.configMapKeyRef = configMapKeyRef
            self.fieldRef = fieldRef
        }
    }

    /// One item of a Secret or ConfigMap in the release namespace.
    public struct KeySelector: Codable, Equatable, Sendable {
        public var name: String
        public var key: String
        /// True: the container starts without the variable when the item is missing.
        public var optional: Bool?

        public init(name: String, key: String, optional: Bool? = nil) {
            self.name = name
            self.key = key
            self.optional = optional
        }
    }

    public struct FieldSelector: Codable, Equatable, Sendable {
        public var fieldPath: String
        public var apiVersion: String?
    }

    public struct Toleration: Codable, Equatable, Sendable {
        public var key: String?
        /// `Equal` (default) or `Exists`.
        public var `operator`: String?
        public var value: String?
        /// Empty (every effect), `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
        public var effect: String?
        public var tolerationSeconds: Int?

        public init(key: String? = nil, `operator`: String? = nil, value: String? = nil, effect: String? = nil, tolerationSeconds: Int? = nil) {
            self.key = key
            self.operator = `operator`
            self.value = value
            self.effect = effect
            self.tolerationSeconds = tolerationSeconds
        }
    }

    /// The pod's affinity, as in a Pod spec. Empty: none.
    public struct Affinity: Codable, Equatable, Sendable {
        public var nodeAffinity: NodeAffinity?
        public var podAffinity: PodAffinity?
        public var podAntiAffinity: PodAffinity?

        public init(nodeAffinity: NodeAffinity? = nil, podAffinity: PodAffinity? = nil, podAntiAffinity: PodAffinity? = nil) {
            self.nodeAffinity = nodeAffinity
            self.podAffinity = podAffinity
            self.podAntiAffinity = podAntiAffinity
        }

        var isEmpty: Bool { nodeAffinity == nil && podAffinity == nil && podAntiAffinity == nil }
    }

    public struct NodeAffinity: Codable, Equatable, Sendable {
        public var requiredDuringSchedulingIgnoredDuringExecution: NodeSelector?
        public var preferredDuringSchedulingIgnoredDuringExecution: [PreferredSchedulingTerm]?
    }

    public struct NodeSelector: Codable, Equatable, Sendable {
        public var nodeSelectorTerms: [NodeSelectorTerm]
    }

    public struct NodeSelectorTerm: Codable, Equatable, Sendable {
        public var matchExpressions: [SelectorRequirement]?
        public var matchFields: [SelectorRequirement]?
    }

    public struct PreferredSchedulingTerm: Codable, Equatable, Sendable {
        public var weight: Int
        public var preference: NodeSelectorTerm
    }

    /// A node or label selector requirement: `key`, `operator` and, for `In`/`NotIn`/`Gt`/`Lt`, `values`.
    public struct SelectorRequirement: Codable, Equatable, Sendable {
        public var key: String
        public var `operator`: String
        public var values: [String]?
    }

    public struct PodAffinity: Codable, Equatable, Sendable {
        public var requiredDuringSchedulingIgnoredDuringExecution: [PodAffinityTerm]?
        public var preferredDuringSchedulingIgnoredDuringExecution: [WeightedPodAffinityTerm]?
    }

    public struct PodAffinityTerm: Codable, Equatable, Sendable {
        public var labelSelector: LabelSelector?
        public var namespaceSelector: LabelSelector?
        public var namespaces: [String]?
        public var topologyKey: String
    }

    public struct WeightedPodAffinityTerm: Codable, Equatable, Sendable {
        public var weight: Int
        public var podAffinityTerm: PodAffinityTerm
    }

    public struct LabelSelector: Codable, Equatable, Sendable {
        public var matchLabels: [String: String]?
        public var matchExpressions: [SelectorRequirement]?
    }
}

/// Checks of the pod fields, each error naming the field with its index (`server.extraEnv[1].name`).
extension Check {
    /// A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name of up to 63 characters.
    static func qualifiedName(_ key: String, field: String) throws {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts.last ?? ""
        var ok = name.count <= 63 && name.wholeMatch(of: /[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?/) != nil
        if parts.count == 2 {
            ok = ok && !parts[0].isEmpty && parts[0].count <= 253
                && parts[0].wholeMatch(of: /[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/) != nil
        }
        guard ok else {
            throw InputError("\(field): key '\(key)' is not a valid Kubernetes key",
                              recovery: "use an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.', e.g. example.com/team")
        }
    }

    static func labels(_ labels: [String: String], field: String) throws {
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            try qualifiedName(key, field: field)
            let ok = value.isEmpty || (value.count <= 63 && value.wholeMatch(of: /[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?/) != nil)
            guard ok else {
                throw InputError("\(field).\(key): '\(value)' is not a valid label value",
                                  recovery: "use up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
            }
        }
    }

    static func annotations(_ annotations: [String: String], field: String) throws {
        for key in annotations.keys.sorted() { try qualifiedName(key, field: field) }
        guard annotations.reduce(0, { $0 + $1.key.utf8.count + $1.value.utf8.count }) <= 256 * 1024 else {
            throw InputError("\(field) is larger than Kubernetes' 256 KiB limit for annotations", recovery: "shorten the values")
        }
    }

    static func envVars(_ variables: [RenderValues.EnvVar], field: String, reserved: Set<String>) throws {
        var seen: Set<String> = []
        for (index, variable) in variables.enumerated() {
            let at = "\(field)[\(index)]"
            guard variable.name.wholeMatch(of: /[-._a-zA-Z][-._a-zA-Z0-9]*/) != nil else {
                throw InputError("\(at).name '\(variable.name)' is not a valid environment variable name",
                                  recovery: "use letters, digits, '_', '-' or '.', not starting with a digit, e.g. HF_TOKEN")
            }
            guard !reserved.contains(variable.name) else {
                throw InputError("\(at).name '\(variable.name)' is set by gemmactl render itself",
                                  recovery: "drop it from \(field); its value comes from the other values")
            }
            guard seen.insert(variable.name).inserted else {
                throw InputError("\(at).name '\(variable.name)' appears twice in \(field)", recovery: "keep one of them")
            }
            switch (variable.value, variable.valueFrom) {
            case (nil, nil), (.some, .some):
                throw InputError("\(at) (\(variable.name)) needs exactly one of value and valueFrom",
                                  recovery: "e.g. value: \"1\", or valueFrom: {secretKeyRef: {name: hf-token, key: token}}")
            case (_, let source?):
                let refs = [source.secretKeyRef, source.configMapKeyRef].compactMap { $0 }
                guard refs.count + (source.fieldRef == nil ? 0 : 1) == 1 else {
                    throw InputError("\(at).valueFrom needs exactly one of secretKeyRef, configMapKeyRef and fieldRef",
                                      recovery: "e.g. valueFrom: {secretKeyRef: {name: hf-token, key: token}}")
                }
                for ref in refs {
                    try subdomain(ref.name, field: "\(at).valueFrom name")
                    guard ref.key.count <= 253, ref.key.wholeMatch(of: /[-._a-zA-Z0-9]+/) != nil else {
                        throw InputError("\(at).valueFrom key '\(ref.key)' is not a valid Secret or ConfigMap key",
                                          recovery: "use letters, digits, '-', '_' or '.'")
                    }
                }
                if let fieldRef = source.fieldRef { try nonEmpty(fieldRef.fieldPath, field: "\(at).valueFrom.fieldRef.fieldPath") }
            default:
                break
            }
        }
    }

    static func tolerations(_ tolerations: [RenderValues.Toleration], field: String) throws {
        for (index, toleration) in tolerations.enumerated() {
            let at = "\(field)[\(index)]"
            if let key = toleration.key, !key.isEmpty { try qualifiedName(key, field: "\(at).key") }
            let op = toleration.operator ?? "Equal"
            try oneOf(op, field: "\(at).operator", ["Equal", "Exists"])
            if op == "Exists", !(toleration.value ?? "").isEmpty {
                throw InputError("\(at): operator Exists takes no value", recovery: "drop the value, or use operator: Equal")
            }
            if (toleration.key ?? "").isEmpty, op != "Exists" {
                throw InputError("\(at): a toleration without a key needs operator: Exists", recovery: "give a key, or use operator: Exists")
            }
            if let effect = toleration.effect, !effect.isEmpty {
                try oneOf(effect, field: "\(at).effect", ["NoSchedule", "PreferNoSchedule", "NoExecute"])
            }
            if toleration.tolerationSeconds != nil, toleration.effect != "NoExecute" {
                throw InputError("\(at): tolerationSeconds applies only to effect NoExecute", recovery: "set effect: NoExecute or drop tolerationSeconds")
            }
        }
    }

    static func affinity(_ affinity: RenderValues.Affinity, field: String) throws {
        func requirements(_ list: [RenderValues.SelectorRequirement]?, field: String, operators: [String]) throws {
            for (index, requirement) in (list ?? []).enumerated() {
                let at = "\(field)[\(index)]"
                try nonEmpty(requirement.key, field: "\(at).key")
                try oneOf(requirement.operator, field: "\(at).operator", operators)
                let needsValues = ["In", "NotIn", "Gt", "Lt"].contains(requirement.operator)
                if needsValues == (requirement.values ?? []).isEmpty {
                    throw InputError("\(at): operator \(requirement.operator) \(needsValues ? "needs" : "takes no") values",
                                      recovery: needsValues ? "add values: [...]" : "drop the values")
                }
            }
        }
        func nodeTerm(_ term: RenderValues.NodeSelectorTerm, field: String) throws {
            let operators = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
            try requirements(term.matchExpressions, field: "\(field).matchExpressions", operators: operators)
            try requirements(term.matchFields, field: "\(field).matchFields", operators: operators)
        }
        func weight(_ value: Int, field: String) throws { try range(value, field: field, 1...100) }
        func podTerm(_ term: RenderValues.PodAffinityTerm, field: String) throws {
            try nonEmpty(term.topologyKey, field: "\(field).topologyKey")
            for (name, selector) in [("labelSelector", term.labelSelector), ("namespaceSelector", term.namespaceSelector)] {
                guard let selector else { continue }
                try labels(selector.matchLabels ?? [:], field: "\(field).\(name).matchLabels")
                try requirements(selector.matchExpressions, field: "\(field).\(name).matchExpressions",
                                 operators: ["In", "NotIn", "Exists", "DoesNotExist"])
            }
        }
        if let node = affinity.nodeAffinity {
            let at = "\(field).nodeAffinity"
            if let required = node.requiredDuringSchedulingIgnoredDuringExecution {
                guard !required.nodeSelectorTerms.isEmpty else {
                    throw InputError("\(at).requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms is empty",
                                      recovery: "give at least one term")
                }
                for (index, term) in required.nodeSelectorTerms.enumerated() {
                    try nodeTerm(term, field: "\(at).requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[\(index)]")
                }
            }
            for (index, preferred) in (node.preferredDuringSchedulingIgnoredDuringExecution ?? []).enumerated() {
                let item = "\(at).preferredDuringSchedulingIgnoredDuringExecution[\(index)]"
                try weight(preferred.weight, field: "\(item).weight")
                try nodeTerm(preferred.preference, field: "\(item).preference")
            }
        }
        for (name, pod) in [("podAffinity", affinity.podAffinity), ("podAntiAffinity", affinity.podAntiAffinity)] {
            guard let pod else { continue }
            let at = "\(field).\(name)"
            for (index, term) in (pod.requiredDuringSchedulingIgnoredDuringExecution ?? []).enumerated() {
                try podTerm(term, field: "\(at).requiredDuringSchedulingIgnoredDuringExecution[\(index)]")
            }
            for (index, preferred) in (pod.preferredDuringSchedulingIgnoredDuringExecution ?? []).enumerated() {
                let item = "\(at).preferredDuringSchedulingIgnoredDuringExecution[\(index)]"
                try weight(preferred.weight, field: "\(item).weight")
                try podTerm(preferred.podAffinityTerm, field: "\(item).podAffinityTerm")
            }
        }
    }
}
