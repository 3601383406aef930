import Foundation
import Testing
@testable import GemmaKit

/// A schema with every construct issue 15 names: required and optional properties, enum, const,
/// an array with min/max items, a nested `$ref` into `$defs`, `anyOf`, a string format and
/// `additionalProperties: false`.
var personSchema: [String: Any] { [
    "type": "object",
    "properties": [
        "name": ["type": "string", "maxLength": 20],
        "age": ["type": "integer", "minimum": 0, "maximum": 120],
        "colour": ["enum": ["red", "green", "blue"]],
        "kind": ["const": "person"],
        "tags": ["type": "array", "items": ["type": "string", "maxLength": 12], "minItems": 1, "maxItems": 3],
        "address": ["$ref": "#/$defs/address"],
        "born": ["type": "string", "format": "date"],
        "id": ["anyOf": [["type": "integer"], ["type": "null"]]],
    ],
    "required": ["name", "age", "colour", "kind", "tags", "address"],
    "additionalProperties": false,
    "$defs": [
        "address": [
            "type": "object",
            "properties": ["city": ["type": "string", "maxLength": 20], "zip": ["type": "string", "pattern": "^[0-9]{5}$"]],
            "required": ["city", "zip"],
            "additionalProperties": false,
        ],
    ],
] }

/// Checks `value` against `personSchema` by hand (the client check validates with `jsonschema`).
func personProblems(_ value: Any) -> [String] {
    guard let object = value as? [String: Any] else { return ["not an object: \(value)"] }
    var problems: [String] = []
    let allowed: Set = ["name", "age", "colour", "kind", "tags", "address", "born", "id"]
    for key in object.keys where !allowed.contains(key) { problems.append("unexpected property \(key)") }
    for key in ["name", "age", "colour", "kind", "tags", "address"] where object[key] == nil { problems.append("missing \(key)") }
    if let name = object["name"], (name as? String).map({ $0.count <= 20 }) != true { problems.append("name \(name)") }
    if let age = object["age"] as? NSNumber {
        if age.doubleValue != age.doubleValue.rounded() || !(0...120).contains(age.doubleValue) { problems.append("age \(age)") }
    } else { problems.append("age not a number") }
    if !["red", "green", "blue"].contains(object["colour"] as? String ?? "") { problems.append("colour \(object["colour"] ?? "nil")") }
    if object["kind"] as? String != "person" { problems.append("kind \(object["kind"] ?? "nil")") }
    if let tags = object["tags"] as? [Any] {
        if !(1...3).contains(tags.count) || !tags.allSatisfy({ ($0 as? String).map { $0.count <= 12 } == true }) { problems.append("tags \(tags)") }
    } else { problems.append("tags not an array") }
    if let address = object["address"] as? [String: Any] {
        if Set(address.keys) != ["city", "zip"] { problems.append("address keys \(address.keys.sorted())") }
        let zip = address["zip"] as? String ?? ""
        if zip.count != 5 || !zip.allSatisfy(\.isASCII) || !zip.allSatisfy(\.isNumber) { problems.append("zip \(zip)") }
    } else { problems.append("address not an object") }
    if let born = object["born"] {
        let text = born as? String ?? ""
        if text.range(of: #"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"#, options: .regularExpression) == nil { problems.append("born \(born)") }
    }
    if let id = object["id"], !(id is NSNull), (id as? NSNumber).map({ $0.doubleValue == $0.doubleValue.rounded() }) != true {
        problems.append("id \(id)")
    }
    return problems
}

func jsonText(_ object: Any) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

@Suite("JSON Schema to grammar through llama.cpp's common library")
struct JSONSchemaGrammarTests {
    @Test(arguments: [
        ##"{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}, "required": ["a"]}"##,
        ##"{"enum": ["x", "y", 3, null]}"##,
        ##"{"const": {"k": [1, 2]}}"##,
        ##"{"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 4}"##,
        ##"{"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}}, "$ref": "#/$defs/n"}"##,
        ##"{"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "uuid"}, {"type": "integer"}]}"##,
        ##"{"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}"##,
    ])
    func convertsAndLlamaAcceptsTheGrammar(schema: String) throws {
        let grammar = try JSONSchemaGrammar.grammar(schema: schema)
        #expect(grammar.contains("root ::="))
        // llama.cpp's grammar parser takes what the converter wrote.
        _ = try SamplerChain(SamplingParameters(temperature: 0, grammar: grammar), model: TestModel.shared)
    }

    @Test func theFullPersonSchemaConverts() throws {
        let grammar = try JSONSchemaGrammar.grammar(schema: jsonText(personSchema))
        #expect(grammar.contains("address"))
        _ = try SamplerChain(SamplingParameters(temperature: 0, grammar: grammar), model: TestModel.shared)
    }

    @Test func unusableSchemasSayWhy() {
        #expect(throws: EngineError.self) { try JSONSchemaGrammar.grammar(schema: "{not json") }
        do {
            _ = try JSONSchemaGrammar.grammar(schema: ##"{"$ref": "#/$defs/missing"}"##)
            Issue.record("an unresolved $ref converted")
        } catch {
            #expect(error.code == .invalidParameter)
            #expect(error.message.contains("#/$defs/missing"), "\(error.message)")
        }
        #expect(throws: EngineError.self) { try JSONSchemaGrammar.grammar(schema: ##"{"type": "string", "format": 7}"##) }
    }
}

@Suite("Structured outputs over real HTTP on the real model", .serialized)
struct StructuredOutputServerTests {
    static let prompt = "Invent a person who lives in a city. Answer as JSON."

    @Test func openAIJSONSchemaReplyValidates() async throws {
        try await TestServer.with { server in
            for stream in [false, true] {
                let reply = try await server.post("/v1/chat/completions", [
                    "messages": [["role": "user", "content": Self.prompt]], "max_tokens": 400, "temperature": 0, "stream": stream,
                    "response_format": ["type": "json_schema", "json_schema": ["name": "person", "strict": true, "schema": personSchema]],
                ])
                #expect(reply.status == 200, "\(reply.body)")
                let text: String
                if stream {
                    text = reply.body.split(separator: "\n").compactMap { line -> String? in
                        guard line.hasPrefix("data: {"), let data = line.dropFirst(6).data(using: .utf8),
                              let chunk = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                              let choice = (chunk["choices"] as? [[String: Any]])?.first else { return nil }
                        return (choice["delta"] as? [String: Any])?["content"] as? String
                    }.joined()
                } else {
                    let choice = try #require((reply.object["choices"] as? [[String: Any]])?.first)
                    #expect(choice["finish_reason"] as? String == "stop")
                    text = try #require((choice["message"] as? [String: Any])?["content"] as? String)
                }
                let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
                #expect(personProblems(value).isEmpty, "\(personProblems(value)) in \(text)")
            }
        }
    }

    @Test func ollamaFormatSchemaReplyValidates() async throws {
        try await TestServer.with { server in
            let chat = try await server.post("/api/chat", [
                "model": "gemma", "stream": false, "format": personSchema, "options": ["temperature": 0, "num_predict": 400],
                "messages": [["role": "user", "content": Self.prompt]],
            ])
            #expect(chat.status == 200, "\(chat.body)")
            let content = try #require((chat.object["message"] as? [String: Any])?["content"] as? String)
            let value = try JSONSerialization.jsonObject(with: Data(content.utf8))
            #expect(personProblems(value).isEmpty, "\(personProblems(value)) in \(content)")

            let generate = try await server.post("/api/generate", [
                "model": "gemma", "stream": false, "prompt": "Pick a colour.", "options": ["temperature": 0.8, "seed": 7],
                "format": ["type": "object", "properties": ["colour": ["enum": ["red", "green"]]], "required": ["colour"]],
            ])
            #expect(generate.status == 200, "\(generate.body)")
            let response = try #require(generate.object["response"] as? String)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(response.utf8)) as? [String: Any])
            #expect(["red", "green"].contains(object["colour"] as? String ?? ""), "\(response)")
        }
    }

    /// The reply lists a schema's properties in the order the client wrote them (as llama-server's and
    /// OpenAI's do), not sorted: the bodies are sent as text, since a Swift dictionary keeps no order.
    @Test func propertiesComeInTheSchemasOrder() async throws {
        let schema = ##"{"type": "object", "properties": {"zebra": {"enum": ["striped"]}, "mango": {"enum": ["ripe"]}, "apple": {"enum": ["red"]}}, "required": ["zebra", "mango", "apple"], "additionalProperties": false}"##
        let message = ##"[{"role": "user", "content": "Describe a zebra, a mango and an apple as JSON."}]"##
        try await TestServer.with { server in
            let requests: [(path: String, body: String, content: ([String: Any]) -> String?)] = [
                ("/v1/chat/completions", ##"{"messages": \##(message), "max_tokens": 60, "temperature": 0, "response_format": {"type": "json_schema", "json_schema": {"name": "fruit", "schema": \##(schema)}}}"##,
                 { (($0["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String }),
                ("/v1/chat/completions", ##"{"messages": \##(message), "max_tokens": 60, "temperature": 0, "response_format": {"type": "json_object", "schema": \##(schema)}}"##,
                 { (($0["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String }),
                ("/completion", ##"{"prompt": "A zebra, a mango and an apple as JSON:", "n_predict": 60, "temperature": 0, "json_schema": \##(schema)}"##,
                 { $0["content"] as? String }),
                ("/api/chat", ##"{"model": "gemma", "stream": false, "messages": \##(message), "format": \##(schema), "options": {"temperature": 0, "num_predict": 60}}"##,
                 { ($0["message"] as? [String: Any])?["content"] as? String }),
            ]
            for request in requests {
                let reply = try await server.request(.POST, request.path, body: request.body)
                #expect(reply.status == 200, "\(request.path): \(reply.body)")
                let content = try #require(request.content(reply.object), "\(request.path): \(reply.body)")
                let positions = ["zebra", "mango", "apple"].map { content.range(of: "\"\($0)\"")?.lowerBound }
                #expect(positions.allSatisfy { $0 != nil } && positions == positions.sorted { $0! < $1! },
                        "\(request.path): \(content)")
            }
        }
    }

    @Test func unusableSchemasAre400sNamingTheField() async throws {
        try await TestServer.with { server in
            let messages = [["role": "user", "content": "Hi"]]
            let cases: [([String: Any], String)] = [
                (["type": "json_schema"], "response_format.json_schema"),
                (["type": "json_schema", "json_schema": ["name": "x"]], "response_format.json_schema.schema"),
                (["type": "json_schema", "json_schema": ["name": "x", "schema": "string"]], "response_format.json_schema.schema"),
                (["type": "json_schema", "json_schema": ["name": "x", "schema": ["$ref": "#/$defs/nowhere"]]], "response_format.json_schema.schema"),
                (["type": "json_object", "schema": ["type": "string", "format": 3]], "response_format.schema"),
                (["type": "xml"], "response_format.type"),
            ]
            for (format, field) in cases {
                let reply = try await server.post("/v1/chat/completions", ["messages": messages, "response_format": format])
                #expect(reply.status == 400, "\(format): \(reply.body)")
                #expect(reply.errorMessage.contains("'\(field)'"), "\(format): \(reply.errorMessage)")
                #expect((reply.object["error"] as? [String: Any])?["param"] as? String == field)
            }
            for format: Any in [42, "yaml", ["$ref": "#/$defs/nowhere"]] {
                let reply = try await server.post("/api/chat", ["messages": messages, "stream": false, "format": format])
                #expect(reply.status == 400, "\(format): \(reply.body)")
                // Ollama's error shape: {"error": "message"}.
                #expect((reply.object["error"] as? String ?? "").contains("'format'"), "\(format): \(reply.body)")
            }
        }
    }

}
