import Foundation

extension ToolCalling {
    /// The one JSON Schema every reply follows. Key order matters (the converter keeps it, and the
    /// model should name the function before writing its arguments), so the text is written here
    /// rather than by `JSONValue`, which sorts keys. Each function's `parameters` goes under
    /// `$defs`, its own `$ref`s rewritten to point there.
    static func replySchema(_ functions: [Function], choice: Choice, parallel: Bool) -> String {
        let calls = functions.enumerated().map { index, function in
            OrderedJSON.object([
                ("type", OrderedJSON.string("object")),
                ("properties", OrderedJSON.object([
                    ("name", OrderedJSON.object([("const", OrderedJSON.string(function.name))])),
                    ("arguments", OrderedJSON.object([("$ref", OrderedJSON.string("#/$defs/\(definition(index))"))])),
                ])),
                ("required", #"["name", "arguments"]"#),
            ])
        }
        let call = calls.count == 1 ? calls[0] : OrderedJSON.object([("anyOf", OrderedJSON.array(calls))])
        let toolCall = parallel
            ? OrderedJSON.object([
                ("type", OrderedJSON.string("object")),
                ("properties", OrderedJSON.object([("tool_calls", OrderedJSON.object([
                    ("type", OrderedJSON.string("array")), ("items", call), ("minItems", "1"),
                ]))])),
                ("required", #"["tool_calls"]"#),
            ])
            : OrderedJSON.object([
                ("type", OrderedJSON.string("object")),
                ("properties", OrderedJSON.object([("tool_call", call)])),
                ("required", #"["tool_call"]"#),
            ])
        let response = #"{"type": "object", "properties": {"response": {"type": "string"}}, "required": ["response"]}"#
        let definitions = OrderedJSON.object(functions.enumerated().map { index, function in
            (definition(index), rebased(function.parameters, under: "#/$defs/\(definition(index))").jsonText)
        })
        let alternatives = choice == .auto ? [toolCall, response] : [toolCall]
        return OrderedJSON.object([("anyOf", OrderedJSON.array(alternatives)), ("$defs", definitions)])
    }

    private static func definition(_ index: Int) -> String { "tool-\(index)" }

    /// `schema` with each local `$ref` ("#/…") pointing into `base` instead of the root.
    private static func rebased(_ schema: JSONValue, under base: String) -> JSONValue {
        switch schema {
        case .object(let object):
            var copy: [String: JSONValue] = [:]
            for (key, value) in object {
                if key == "$ref", case .string(let ref) = value, ref.hasPrefix("#/") {
                    copy[key] = .string(base + ref.dropFirst())
                } else {
                    copy[key] = rebased(value, under: base)
                }
            }
            return .object(copy)
        case .array(let items):
            return .array(items.map { rebased($0, under: base) })
        default:
            return schema
        }
    }
}
