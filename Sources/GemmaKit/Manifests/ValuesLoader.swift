import Foundation
import Yams

/// Resolves `RenderValues` from layers: defaults < values file < `--set`; flags are applied by the caller on top.
///
/// Layers are merged as YAML trees checked against the defaults' tree, so an unknown or misspelled key is an
/// error naming its full path, and a value of the wrong type is an error naming the field and the value.
public enum ValuesLoader {
    /// The effective values from an optional values file and `--set path=value` assignments, in order.
    public static func load(file: String?, sets: [String]) throws -> RenderValues {
        var tree = try defaultsTree()
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw InputError("cannot read values file \(file): \(error.localizedDescription)",
                                  recovery: "pass an existing YAML file to --values")
            }
            tree = try merge(text: text, source: "values file \(file)", into: tree)
        }
        for assignment in sets {
            tree = try apply(set: assignment, to: tree)
        }
        return try decode(tree)
    }

    /// Merges a YAML document over the tree.
    public static func merge(text: String, source: String, into tree: Node) throws -> Node {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw InputError("\(source) is not valid YAML: \(error)", recovery: "fix the YAML syntax at the position shown")
        }
        guard let node else { return tree }  // an empty file changes nothing
        guard node.mapping != nil else {
            throw InputError("\(source) must be a mapping of fields (name: gemma, …), got a \(kindName(node))",
                              recovery: "see `gemmactl render --print-values` for the fields")
        }
        return try merge(node, into: tree, path: [], source: source)
    }

    /// Applies one `path=value` assignment: `server.ctxSize=8192`, `external.models={llama3.2,mistral}`,
    /// `podLabels.app=gemma` (in a mapping of free keys such as labels, everything after its name is the key:
    /// `podAnnotations.prometheus.io/scrape=true`).
    public static func apply(set assignment: String, to tree: Node) throws -> Node {
        guard let equals = assignment.firstIndex(of: "=") else {
            throw InputError("--set \(assignment) has no '='", recovery: "write --set path=value, e.g. --set server.ctxSize=8192")
        }
        var path = assignment[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let raw = String(assignment[assignment.index(after: equals)...])
        guard !path.contains(where: \.isEmpty) else {
            throw InputError("--set \(assignment): the path '\(path.joined(separator: "."))' has an empty part",
                              recovery: "write dotted field names, e.g. --set gateway.hostname=llm.example.com")
        }
        let defaults = try defaultsTree()
        if let open = (1..<path.count).first(where: { isFreeMapping(lookup(Array(path[..<$0]), in: defaults)) }) {
            path = Array(path[..<open]) + [path[open...].joined(separator: ".")]
            return replacing(path, in: tree, with: .scalar(.init(raw, Tag(.str), .doubleQuoted)))
        }
        guard let existing = lookup(path, in: tree) else {
            throw InputError("--set \(assignment): unknown field '\(path.joined(separator: "."))'",
                              recovery: "see `gemmactl render --print-values` for the fields")
        }
        let field = path.joined(separator: ".")
        let value: Node
        switch existing {
        case .sequence:
            var items = raw
            if items.hasPrefix("{") && items.hasSuffix("}") { items = String(items.dropFirst().dropLast()) }
            let parts = items.isEmpty ? [] : items.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            value = .sequence(.init(parts.map { Node.Scalar($0, Tag(.str), .doubleQuoted) }.map(Node.scalar)))
        case .mapping where isFreeMapping(lookup(path, in: defaults)):
            throw InputError("--set \(assignment): '\(field)' is a mapping of keys to values",
                              recovery: "set one key, e.g. --set \(field).app=gemma")
        case .mapping:
            throw InputError("--set \(assignment): '\(field)' is a group of fields, not a value",
                              recovery: "set one of its fields, e.g. --set \(field).<field>=…, or write it in a --values file")
        default:
            value = .scalar(.init(raw, .implicit, .plain))
        }
        return replacing(path, in: tree, with: value)
    }

    /// A mapping that is empty in the defaults holds free keys (labels, annotations) or Kubernetes fields
    /// (affinity) rather than gemmactl's own: it is taken whole, and the decoded values are checked instead.
    private static func isFreeMapping(_ node: Node?) -> Bool {
        guard case .mapping(let mapping)? = node else { return false }
        return mapping.isEmpty
    }

    /// The defaults as a YAML tree: the schema every layer is checked against.
    public static func defaultsTree() throws -> Node {
        try defaultsTree(encoding: RenderValues())
    }

    private static func defaultsTree(encoding values: RenderValues) throws -> Node {
        guard let node = try Yams.compose(yaml: try YAMLEncoder().encode(values)) else {
            throw InputError("the values encode to an empty document")
        }
        return node
    }

    /// Inside the mappings taken whole (Kubernetes fields such as affinity or tolerations), a key the decoded
    /// values do not hold was not understood: an unknown field, named with its path.
    private static func rejectUnknownFields(given: Node, decoded: Node, path: [String]) throws {
        switch (given, decoded) {
        case (.mapping(let givenMap), .mapping(let decodedMap)):
            let decodedByName = Dictionary(decodedMap.map { ($0.key.string ?? "", $0.value) }, uniquingKeysWith: { first, _ in first })
            for (key, value) in givenMap where value.null == nil {
                let name = key.string ?? ""
                guard let child = decodedByName[name] else {
                    let field = (path + [name]).joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
                    throw InputError("unknown field '\(field)'",
                                      recovery: "check the spelling against the Kubernetes API (docs/render.md lists the fields gemmactl takes)")
                }
                try rejectUnknownFields(given: value, decoded: child, path: path + [name])
            }
        case (.sequence(let givenItems), .sequence(let decodedItems)):
            for (index, (item, decodedItem)) in zip(givenItems, decodedItems).enumerated() {
                try rejectUnknownFields(given: item, decoded: decodedItem, path: path + ["[\(index)]"])
            }
        default:
            break
        }
    }

    /// Decodes the merged tree, turning a type mismatch into an error naming the field and the value.
    public static func decode(_ tree: Node) throws -> RenderValues {
        do {
            let values = try YAMLDecoder().decode(RenderValues.self, from: tree)
            try rejectUnknownFields(given: tree, decoded: try defaultsTree(encoding: values), path: [])
            return values
        } catch let error as DecodingError {
            let context: DecodingError.Context
            let expected: String
            switch error {
            case .typeMismatch(let type, let ctx): context = ctx; expected = typeName(type)
            case .valueNotFound(let type, let ctx): context = ctx; expected = typeName(type)
            case .keyNotFound(let key, let ctx):
                context = DecodingError.Context(codingPath: ctx.codingPath + [key], debugDescription: ctx.debugDescription)
                expected = "given (it is required)"
            case .dataCorrupted(let ctx): context = ctx; expected = "a valid value"
            @unknown default: throw error
            }
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            let field = path.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
            let got = lookup(context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }, in: tree)
            let shown = got.map { ", got '\(describe($0))'" } ?? ""
            throw InputError("field '\(field)' must be \(expected)\(shown)",
                              recovery: "fix the value in the values file or --set")
        }
    }

    /// Prints values as YAML, in field order.
    public static func yaml(_ values: RenderValues) throws -> String {
        try YAMLEncoder().encode(values)
    }

    // MARK: - Trees

    private static func merge(_ override: Node, into base: Node, path: [String], source: String) throws -> Node {
        let field = path.joined(separator: ".")
        switch (base, override) {
        case (.mapping(let baseMap), .mapping) where baseMap.isEmpty:
            return override  // free keys: checked when decoded
        case (.mapping(var baseMap), .mapping(let overrideMap)):
            for (keyNode, value) in overrideMap {
                guard let key = keyNode.string else {
                    throw InputError("\(source): a key under '\(field)' is not a string", recovery: "use plain field names")
                }
                let childPath = path + [key]
                guard let existing = baseMap[keyNode] ?? baseMap[Node(key)] else {
                    throw InputError("\(source): unknown field '\(childPath.joined(separator: "."))'",
                                      recovery: "check the spelling; `gemmactl render --print-values` lists every field")
                }
                if value.null != nil {
                    continue  // `field:` with no value keeps the default
                }
                baseMap[Node(key)] = try merge(value, into: existing, path: childPath, source: source)
            }
            return .mapping(baseMap)
        case (.mapping, _):
            throw InputError("\(source): field '\(field)' must be a mapping of fields, got '\(describe(override))'",
                              recovery: "see `gemmactl render --print-values` for its fields")
        case (.sequence, .sequence):
            return override  // item types are checked when decoded
        case (.sequence, .scalar):
            return .sequence(.init([override]))  // one value where a list goes: a list of one
        case (.sequence, _):
            throw InputError("\(source): field '\(field)' must be a list, got '\(describe(override))'",
                              recovery: "write it as [a, b]")
        case (_, .scalar):
            return override
        default:
            throw InputError("\(source): field '\(field)' must be a single value, got a \(kindName(override))",
                              recovery: "see `gemmactl render --print-values` for its type")
        }
    }

    private static func lookup(_ path: [String], in node: Node) -> Node? {
        var current = node
        for key in path {
            if let index = Int(key), let items = current.sequence, items.indices.contains(index) {
                current = items[index]
            } else if let child = current.mapping?[Node(key)] {
                current = child
            } else {
                return nil
            }
        }
        return current
    }

    private static func replacing(_ path: [String], in node: Node, with value: Node) -> Node {
        guard let key = path.first, var map = node.mapping else { return value }
        let child = map[Node(key)] ?? .mapping(.init([]))
        map[Node(key)] = replacing(Array(path.dropFirst()), in: child, with: value)
        return .mapping(map)
    }

    private static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return scalar.string
        default: return ((try? Yams.serialize(node: node)) ?? kindName(node)).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    private static func kindName(_ node: Node) -> String {
        switch node {
        case .scalar: "single value"
        case .mapping: "mapping"
        case .sequence: "list"
        case .alias: "alias"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        case is [String].Type: "a list of strings"
        case is [String: String].Type: "a mapping of keys to strings"
        case is any Sequence.Type: "a list"
        default: "a mapping of fields"
        }
    }
}
