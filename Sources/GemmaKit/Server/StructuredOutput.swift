import Foundation

/// A JSON value a request sends where the order of an object's keys is meaning (a JSON Schema's
/// `properties`: the reply lists them in that order, as llama-server's and OpenAI's do), with the
/// client's own text of it: a decoded `JSONValue` keeps no key order.
struct ClientJSON: Decodable, Equatable, Sendable {
    let value: JSONValue
    /// The client's text of `value`; nil when the request body was not at hand (then `value`'s
    /// text, keys sorted, stands in).
    let clientText: String?

    init(_ value: JSONValue) {
        self.value = value
        clientText = nil
    }

    init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        self.value = value
        // The span is checked against the decoded value, so a span found in the wrong place is never used.
        clientText = (decoder.userInfo[JSONBody.rawBody] as? Data).flatMap { JSONSpans.value(at: decoder.codingPath, in: $0) }
            .flatMap { span in (try? JSONDecoder().decode(JSONValue.self, from: span)) == value ? String(decoding: span, as: UTF8.self) : nil }
    }

    var text: String { clientText ?? value.jsonText }
}

/// Structured outputs: the grammar a reply must follow, from a request's JSON Schema or JSON mode.
enum StructuredOutput {
    /// The grammar for replies valid against `schema`, the request field `field`, its properties in
    /// the client's order; a schema that is missing, not an object or not convertible is a 400
    /// naming the field.
    static func grammar(schema: ClientJSON?, field: String) throws -> String {
        guard let schema else {
            throw APIError.badRequest("'\(field)' is missing; send the JSON Schema the reply must follow", param: field)
        }
        guard schema.value.objectValue != nil else {
            throw APIError.badRequest("'\(field)' must be a JSON Schema object", param: field)
        }
        return try grammar(schemaText: schema.text, field: field)
    }

    /// The grammar for a schema given as JSON text (whose key order the converter keeps).
    static func grammar(schemaText: String, field: String) throws(APIError) -> String {
        do {
            return try JSONSchemaGrammar.grammar(schema: schemaText)
        } catch {
            throw APIError(error, field: field)
        }
    }
}

extension ChatCompletionRequest.ResponseFormat {
    /// The grammar `response_format` asks for; nil for plain text.
    ///
    /// `json_schema` follows OpenAI (`json_schema.schema`); `json_object` may carry a `schema`
    /// as llama-server allows.
    func grammar() throws -> String? {
        switch type {
        case "text":
            return nil
        case "json_object":
            return try schema.map { try StructuredOutput.grammar(schema: $0, field: "response_format.schema") } ?? JSONGrammar.object
        case "json_schema":
            guard let jsonSchema else {
                throw APIError.badRequest("'response_format.json_schema' is missing; send {\"name\": …, \"schema\": {…}}",
                                          param: "response_format.json_schema")
            }
            return try StructuredOutput.grammar(schema: jsonSchema.schema, field: "response_format.json_schema.schema")
        default:
            throw APIError.badRequest("'response_format.type' must be 'text', 'json_object' or 'json_schema', got '\(type)'",
                                      param: "response_format.type")
        }
    }
}
