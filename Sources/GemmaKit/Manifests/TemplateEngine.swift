import Foundation

/// A value a template can substitute, test or loop over.
public indirect enum TemplateValue: Equatable, Sendable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case list([TemplateValue])
    case map([String: TemplateValue])

    var isCollection: Bool {
        switch self {
        case .list, .map: true
        default: false
        }
    }

    var isTruthy: Bool {
        switch self {
        case .string(let s): !s.isEmpty
        case .int(let i): i != 0
        case .bool(let b): b
        case .list(let l): !l.isEmpty
        case .map(let m): !m.isEmpty
        }
    }
}

/// A small line-oriented template language for YAML manifests.
///
/// - `{{ path.to.value }}` anywhere in a line: the value as a YAML scalar. Strings are always emitted as
///   double-quoted scalars with every quote, backslash and control character escaped, so no value can add a
///   key, a list item or a document; numbers and booleans are emitted bare.
/// - On a line of their own: `{{#if path}}`, `{{#unless path}}`, `{{else}}`, `{{/if}}`, `{{/unless}}`;
///   `{{#each path as item}}` … `{{/each}}` (then `{{ item.field }}`); `{{> partial}}` inserts
///   `partials/partial.yaml`, indented to the tag's column; `{{= path}}` inserts a mapping's entries or a
///   list's items as block YAML, indented to the tag's column (nothing when empty); `{{! remark }}` is dropped.
public struct TemplateEngine: Sendable {
    /// Reads a template (or `partials/NAME.yaml`) by name.
    public let load: @Sendable (String) throws -> String

    public init(load: @escaping @Sendable (String) throws -> String) {
        self.load = load
    }

    /// Renders the named template with `context` as the root scope.
    public func render(_ name: String, context: [String: TemplateValue]) throws -> String {
        var lines: [String] = []
        try render(name, scope: Scope(root: context), into: &lines, depth: 0)
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    /// A double-quoted YAML scalar holding exactly `text`.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{85}", "\u{2028}", "\u{2029}", "\u{FEFF}":
                out += String(format: "\\u%04X", scalar.value)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) {
                    out += String(format: "\\x%02X", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// A mapping's entries or a list's items as block YAML lines (keys sorted, scalars as `{{ }}` emits them).
    static func block(_ value: TemplateValue) -> [String] {
        func nested(_ value: TemplateValue, under head: String) -> [String] {
            switch value {
            case .map(let map) where map.isEmpty: return [head + " {}"]
            case .list(let list) where list.isEmpty: return [head + " []"]
            case .map, .list: return [head] + block(value).map { "  " + $0 }
            default: return [head + " " + scalar(value)]
            }
        }
        switch value {
        case .map(let map):
            return map.keys.sorted().flatMap { key in nested(map[key]!, under: "\(Self.key(key)):") }
        case .list(let items):
            return items.flatMap { item -> [String] in
                switch item {
                case .map(let map) where !map.isEmpty:
                    let lines = block(item)
                    return ["- " + lines[0]] + lines.dropFirst().map { "  " + $0 }
                default:
                    return nested(item, under: "-")
                }
            }
        default:
            return [scalar(value)]
        }
    }

    /// A mapping key: bare where YAML reads it back as the same string, quoted otherwise.
    static func key(_ key: String) -> String {
        let plain = key.wholeMatch(of: /[A-Za-z][A-Za-z0-9_.\/-]*/) != nil
            && !["y", "n", "yes", "no", "on", "off", "true", "false", "null"].contains(key.lowercased())
        return plain ? key : quoted(key)
    }

    private static func scalar(_ value: TemplateValue) -> String {
        switch value {
        case .string(let s): quoted(s)
        case .int(let i): String(i)
        case .bool(let b): b ? "true" : "false"
        case .map, .list: ""
        }
    }

    // MARK: - Parsing

    private indirect enum Part {
        case text(String, line: Int)
        case conditional(path: String, negated: Bool, then: [Part], otherwise: [Part], line: Int)
        case loop(path: String, alias: String, body: [Part], line: Int)
        case partial(name: String, indent: String, line: Int)
        case block(path: String, indent: String, line: Int)
    }

    private struct Scope {
        var root: [String: TemplateValue]
        var locals: [String: TemplateValue] = [:]

        func lookup(_ path: String) -> TemplateValue? {
            let keys = path.split(separator: ".").map(String.init)
            guard let first = keys.first else { return nil }
            var current: TemplateValue? = locals[first] ?? root[first]
            for key in keys.dropFirst() {
                guard case .map(let map)? = current else { return nil }
                current = map[key]
            }
            return current
        }
    }

    private func parse(_ text: String, template: String) throws -> [Part] {
        var stack: [(kind: String, path: String, alias: String, negated: Bool, then: [Part]?, parts: [Part], line: Int)] = [
            ("root", "", "", false, nil, [], 0),
        ]
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("{{"), trimmed.hasSuffix("}}"), trimmed.count >= 4,
                  let sigil = trimmed.dropFirst(2).first, "#/>!=".contains(sigil) || trimmed == "{{else}}"
            else {
                stack[stack.count - 1].parts.append(.text(String(line), line: number))
                continue
            }
            let inner = trimmed.dropFirst(2).dropLast(2).trimmingCharacters(in: .whitespaces)
            let words = inner.dropFirst(sigil == "e" ? 0 : 1).split(separator: " ").map(String.init)
            func fail(_ what: String) -> InputError {
                InputError("template \(template) line \(number): \(what)", recovery: "fix the template (see templates/README.md)")
            }
            switch sigil {
            case "!":
                continue
            case ">":
                guard words.count == 1 else { throw fail("write {{> partial-name}}") }
                let indent = String(line.prefix { $0 == " " })
                stack[stack.count - 1].parts.append(.partial(name: words[0], indent: indent, line: number))
            case "=":
                guard words.count == 1 else { throw fail("write {{= path}}") }
                let indent = String(line.prefix { $0 == " " })
                stack[stack.count - 1].parts.append(.block(path: words[0], indent: indent, line: number))
            case "#":
                switch (words.first, words.count) {
                case ("if", 2), ("unless", 2):
                    stack.append((words[0], words[1], "", words[0] == "unless", nil, [], number))
                case ("each", 4) where words[2] == "as":
                    stack.append(("each", words[1], words[3], false, nil, [], number))
                default:
                    throw fail("unknown block '\(inner)' (use #if PATH, #unless PATH or #each PATH as NAME)")
                }
            case "e":
                guard let top = stack.last, top.kind == "if" || top.kind == "unless", top.then == nil else {
                    throw fail("{{else}} outside an #if or #unless block")
                }
                stack[stack.count - 1].then = top.parts
                stack[stack.count - 1].parts = []
            default:  // "/"
                guard stack.count > 1, let top = stack.last, words == [top.kind] else {
                    throw fail("'{{\(inner)}}' closes no open block")
                }
                stack.removeLast()
                let part: Part = top.kind == "each"
                    ? .loop(path: top.path, alias: top.alias, body: top.parts, line: top.line)
                    : .conditional(path: top.path, negated: top.negated, then: top.then ?? top.parts,
                                   otherwise: top.then == nil ? [] : top.parts, line: top.line)
                stack[stack.count - 1].parts.append(part)
            }
        }
        guard stack.count == 1, let root = stack.first else {
            let open = stack.last!
            throw InputError("template \(template) line \(open.line): {{#\(open.kind) \(open.path)}} is never closed",
                              recovery: "add {{/\(open.kind)}}")
        }
        return root.parts
    }

    // MARK: - Rendering

    private func render(_ name: String, scope: Scope, into lines: inout [String], depth: Int) throws {
        guard depth < 8 else {
            throw InputError("template \(name): partials nest more than 8 deep", recovery: "look for a partial that includes itself")
        }
        let parts = try parse(try load(name), template: name)
        try render(parts, template: name, scope: scope, into: &lines, depth: depth)
    }

    private func render(_ parts: [Part], template: String, scope: Scope, into lines: inout [String], depth: Int) throws {
        for part in parts {
            switch part {
            case .text(let text, let line):
                lines.append(try substitute(text, template: template, line: line, scope: scope))
            case .conditional(let path, let negated, let then, let otherwise, let line):
                guard let value = scope.lookup(path) else {
                    throw InputError("template \(template) line \(line): no value '\(path)'", recovery: "fix the name in the template")
                }
                try render(value.isTruthy != negated ? then : otherwise, template: template, scope: scope, into: &lines, depth: depth)
            case .loop(let path, let alias, let body, let line):
                guard case .list(let items)? = scope.lookup(path) else {
                    throw InputError("template \(template) line \(line): '\(path)' is not a list", recovery: "fix the name in the template")
                }
                for item in items {
                    var inner = scope
                    inner.locals[alias] = item
                    try render(body, template: template, scope: inner, into: &lines, depth: depth)
                }
            case .block(let path, let indent, let line):
                switch scope.lookup(path) {
                case let value? where value.isCollection:
                    lines += Self.block(value).map { indent + $0 }
                case nil:
                    throw InputError("template \(template) line \(line): no value '\(path)'", recovery: "fix the name in the template")
                default:
                    throw InputError("template \(template) line \(line): '\(path)' is a single value, not a mapping or list",
                                      recovery: "substitute it with {{ \(path) }}")
                }
            case .partial(let name, let indent, _):
                var included: [String] = []
                try render("partials/\(name).yaml", scope: scope, into: &included, depth: depth + 1)
                if included.last == "" { included.removeLast() }
                lines += included.map { $0.isEmpty ? $0 : indent + $0 }
            }
        }
    }

    private func substitute(_ text: String, template: String, line: Int, scope: Scope) throws -> String {
        guard text.contains("{{") else { return text }
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw InputError("template \(template) line \(line): '{{' without '}}'", recovery: "close the placeholder")
            }
            let path = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            switch scope.lookup(path) {
            case .string(let s)?: out += Self.quoted(s)
            case .int(let i)?: out += String(i)
            case .bool(let b)?: out += b ? "true" : "false"
            case nil:
                throw InputError("template \(template) line \(line): no value '\(path)'", recovery: "fix the name in the template")
            default:
                throw InputError("template \(template) line \(line): '\(path)' is a list or mapping, not a value",
                                  recovery: "loop over it with {{#each \(path) as item}}")
            }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}
