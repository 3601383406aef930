import Foundation
import CLlamaCommon

/// JSON Schema to GBNF, through llama.cpp's own converter (`common/json-schema-to-grammar.cpp`),
/// the one llama-server uses for `response_format` and `json_schema`.
public enum JSONSchemaGrammar {
    /// The grammar whose sentences are the JSON documents valid against `schema` (JSON text).
    ///
    /// Throws `.unusableSchema` with the converter's reason when the schema is not JSON or uses
    /// what the converter cannot express (an unknown `$ref`, an unsupported `format`, …).
    public static func grammar(schema: String) throws(EngineError) -> String {
        var grammar: UnsafeMutablePointer<CChar>?
        var error: UnsafeMutablePointer<CChar>?
        let status = gemma_json_schema_to_grammar(schema, &grammar, &error)
        defer {
            gemma_common_free(grammar)
            gemma_common_free(error)
        }
        guard status == 0, let grammar else {
            let reason = error.map { String(cString: $0) } ?? "the converter gave no reason"
            // The converter lists its errors one a line; an HTTP error message is one line.
            let lines = reason.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            throw EngineError(.unusableSchema(reason: lines.joined(separator: " ")))
        }
        return String(cString: grammar)
    }
}
