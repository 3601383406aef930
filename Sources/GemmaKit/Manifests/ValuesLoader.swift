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
                throw RenderError("cannot read values file \(file): \(error.localizedDescription)",
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
            throw RenderError("\(source) is not valid YAML: \(error)", recovery: "fix the YAML syntax at the position shown")
        }
        guard let node else { return tree }  // an empty file changes nothing
        guard node.mapping != nil else {
            throw RenderError("\(source) must be a mapping of fields (name: gemma, …), got a \(kindName(node))",
                              recovery: "see `gemmactl render --print-values` for the fields")
        }
        return try merge(node, into: tree, path: [], source: source)
    }

    /// Applies one `path=value` assignment: `server.ctxSize=8192`, `external.models={llama3.2,mistral}`.
    public static func apply(set assignment: String, to tree: Node) throws -> Node {
        guard let equals = assignment.firstIndex(of: "=") else {
            throw RenderError("--set \(assignment) has no '='", recovery: "write --set path=value, e.g. --set server.ctxSize=8192")
        }
        let path = assignment[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let raw = String(assignment[assignment.index(after: equals)...])
        guard !path.contains(where: \.isEmpty) else {
            throw RenderError("--set \(assignment): the path '\(path.joined(separator: "."))' has an empty part",
                              recovery: "write dotted field names, e.g. --set gateway.hostname=llm.example.com")
        }
        guard let existing = lookup(path, in: tree) else {
            throw RenderError("--set \(assignment): unknown field '\(path.joined(separator: "."))'",
                              recovery: "see `gemmactl render --print-values` for the fields")
        }
        let value: Node
        switch existing {
        case .sequence:
            var items = raw
            if items.hasPrefix("{") && items.hasSuffix("}") { items = String(items.dropFirst().dropLast()) }
            let parts = items.isEmpty ? [] : items.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            value = .sequence(.init(parts.map { Node.Scalar($0, Tag(.str), .doubleQuoted) }.map(Node.scalar)))
        case .mapping:
            throw RenderError("--set \(assignment): '\(path.joined(separator: "."))' is a group of fields, not a value",
                              recovery: "set one of its fields, e.g. --set \(path.joined(separator: ".")).<field>=…")
        default:
            value = .scalar(.init(raw, .implicit, .plain))
        }
        return replacing(path, in: tree, with: value)
    }

    /// The defaults as a YAML tree: the schema every layer is checked against.
    public static func defaultsTree() throws -> Node {
        guard let node = try Yams.compose(yaml: try YAMLEncoder().encode(RenderValues())) else {
            throw RenderError("the default values encode to an empty document")
        }
        return node
    }

    /// Decodes the merged tree, turning a type mismatch into an error naming the field and the value.
    public static func decode(_ tree: Node) throws -> RenderValues {
        do {
            return try YAMLDecoder().decode(RenderValues.self, from: tree)
        } catch let error as DecodingError {
            let context: DecodingError.Context
            let expected: String
            switch error {
            case .typeMismatch(let type, let ctx): context = ctx; expected = typeName(type)
            case .valueNotFound(let type, let ctx): context = ctx; expected = typeName(type)
            case .keyNotFound(_, let ctx): context = ctx; expected = "a value"
            case .dataCorrupted(let ctx): context = ctx; expected = "a valid value"
            @unknown default: throw error
            }
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            let field = path.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
            let got = lookup(context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }, in: tree)
            let shown = got.map { ", got '\(describe($0))'" } ?? ""
            throw RenderError("field '\(field)' must be \(expected)\(shown)",
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
        case (.mapping(var baseMap), .mapping(let overrideMap)):
            for (keyNode, value) in overrideMap {
                guard let key = keyNode.string else {
                    throw RenderError("\(source): a key under '\(field)' is not a string", recovery: "use plain field names")
                }
                let childPath = path + [key]
                guard let existing = baseMap[keyNode] ?? baseMap[Node(key)] else {
                    throw RenderError("\(source): unknown field '\(childPath.joined(separator: "."))'",
                                      recovery: "check the spelling; `gemmactl render --print-values` lists every field")
                }
                if value.null != nil {
                    continue  // `field:` with no value keeps the default
                }
                baseMap[Node(key)] = try merge(value, into: existing, path: childPath, source: source)
            }
            return .mapping(baseMap)
        case (.mapping, _):
            throw RenderError("\(source): field '\(field)' must be a mapping of fields, got '\(describe(override))'",
                              recovery: "see `gemmactl render --print-values` for its fields")
        case (.sequence, .sequence(let items)):
            for item in items where item.scalar == nil {
                throw RenderError("\(source): field '\(field)' must be a list of strings, got '\(describe(item))' in it",
                                  recovery: "write it as [a, b]")
            }
            return override
        case (.sequence, _):
            throw RenderError("\(source): field '\(field)' must be a list, got '\(describe(override))'",
                              recovery: "write it as [a, b]")
        case (_, .scalar):
            return override
        default:
            throw RenderError("\(source): field '\(field)' must be a single value, got a \(kindName(override))",
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
        default: "a \(type)"
        }
    }
}
