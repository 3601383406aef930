import Foundation
import Hummingbird

/// Every embeddings endpoint, each a codec on the one path (`Embeddings`): OpenAI's
/// `/v1/embeddings`, Ollama's `/api/embed` and legacy `/api/embeddings`, and llama-server's native
/// `/embedding` and `/embeddings` (no `/v1`), which alone answers per-token rows when the server
/// pools nothing (`--pooling none`).
struct EmbeddingsController: Sendable {
    let server: ServerCore

    var endpoints: [Endpoint] {
        [
            Endpoint(.post, "/v1/embeddings") { request, _ in try await openAI(request) },
            Endpoint(.post, "/api/embed") { request, _ in try await ollama(request) },
            Endpoint(.post, "/api/embeddings") { request, _ in try await ollamaLegacy(request) },
        ] + ["/embedding", "/embeddings"].map { path in Endpoint(.post, path) { request, _ in try await native(request) } }
    }

    private var embeddings: Embeddings { Embeddings(server: server) }

    private func decode<Body: Decodable>(_ type: Body.Type, _ request: Request) async throws -> Body {
        try await JSONBody.decode(type, from: request, limit: server.configuration.maxBodySize)
    }

    /// One L2-normalised vector per input.
    private func pooled(_ result: Embeddings.Result) -> [[Double]] {
        result.rows.map { EmbeddingNormalization.pNorm(2).apply($0[0]).map(Double.init) }
    }

    // MARK: OpenAI

    func openAI(_ request: Request) async throws -> Response {
        let body = try await decode(EmbeddingsRequest.self, request)
        let format = body.encodingFormat ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.badRequest("'encoding_format' must be 'float' or 'base64', got '\(format)'", param: "encoding_format")
        }
        let result = try await embeddings.embed(body.input.values.map { .text($0) }, field: "input", pooled: true, model: body.model)
        let data = result.rows.enumerated().map { index, rows in
            let vector = EmbeddingNormalization.pNorm(2).apply(rows[0])
            return OpenAIEmbedding(index: index, embedding: format == "base64"
                ? .base64(vector.withUnsafeBufferPointer { Data(buffer: $0).base64EncodedString() })
                : .floats(vector.map(Double.init)))
        }
        return JSONBody.response(OpenAIEmbeddingList(model: result.modelID, data: data,
                                                     usage: .init(promptTokens: result.tokenCount, totalTokens: result.tokenCount)))
    }

    // MARK: Ollama

    func ollama(_ request: Request) async throws -> Response {
        let body = try await decode(OllamaEmbedRequest.self, request)
        let result = try await embeddings.embed(body.input.values.map { .text($0) }, field: "input", pooled: true, model: body.model)
        return JSONBody.response(OllamaEmbedResponse(model: result.modelID, embeddings: pooled(result), promptEvalCount: result.tokenCount))
    }

    /// Ollama's legacy embeddings: one `prompt`, one `embedding`.
    func ollamaLegacy(_ request: Request) async throws -> Response {
        let body = try await decode(OllamaLegacyEmbeddingsRequest.self, request)
        let result = try await embeddings.embed([.text(body.prompt)], field: "prompt", pooled: true, model: body.model)
        return JSONBody.response(OllamaLegacyEmbeddingsResponse(embedding: pooled(result)[0]))
    }

    // MARK: llama-server's native shape

    /// `[{"index": i, "embedding": [[…], …]}]`: one row for a pooled input, normalised as
    /// `embd_normalize` says, and one row per token, as computed, when the server pools nothing.
    func native(_ request: Request) async throws -> Response {
        let body = try await decode(NativeEmbeddingRequest.self, request)
        // llama-server reads `input` first, then `content`.
        let (field, value): (String, JSONValue)
        if let input = body.input { (field, value) = ("input", input) } else if let content = body.content { (field, value) = ("content", content) } else {
            throw APIError.badRequest("\"input\" or \"content\" must be provided", param: "content")
        }
        let normalization: EmbeddingNormalization
        if let number = body.embdNormalize {
            guard let chosen = EmbeddingNormalization(llamaServerValue: number) else {
                throw APIError.badRequest("'embd_normalize' must be -1 (none), 0 (max absolute), 1 (taxicab), 2 (Euclidean) or more, got \(number)",
                                          param: "embd_normalize")
            }
            normalization = chosen
        } else {
            normalization = .pNorm(2)
        }
        let result = try await embeddings.embed(try EmbeddingInput.inputs(value, field: field), field: field, pooled: false, model: body.model)
        return JSONBody.response(result.rows.enumerated().map { index, rows in
            NativeEmbedding(index: index, embedding: rows.map { (result.perToken ? $0 : normalization.apply($0)).map(Double.init) })
        })
    }
}

// MARK: Wire types

struct EmbeddingsRequest: Decodable {
    var model: String?
    var input: StringOrArray
    var encodingFormat: String?

    enum CodingKeys: String, CodingKey { case model, input, encodingFormat = "encoding_format" }
}

struct OpenAIEmbeddingList: Encodable {
    let object = "list"
    let model: String
    let data: [OpenAIEmbedding]
    let usage: Usage

    struct Usage: Encodable {
        let promptTokens: Int, totalTokens: Int
    }
}

struct OpenAIEmbedding: Encodable {
    enum Vector: Encodable {
        case floats([Double])
        /// The float32 values' bytes, little-endian, in base64 (`encoding_format: base64`).
        case base64(String)

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .floats(let values): try container.encode(values)
            case .base64(let text): try container.encode(text)
            }
        }
    }
    let object = "embedding"
    let index: Int
    let embedding: Vector
}

struct OllamaEmbedRequest: Decodable {
    var model: String?
    var input: StringOrArray
}

struct OllamaEmbedResponse: Encodable {
    let model: String
    let embeddings: [[Double]]
    let promptEvalCount: Int
}

struct OllamaLegacyEmbeddingsRequest: Decodable {
    var model: String?
    var prompt: String
}

struct OllamaLegacyEmbeddingsResponse: Encodable {
    let embedding: [Double]
}

struct NativeEmbeddingRequest: Decodable {
    var model: String?
    var input: JSONValue?
    var content: JSONValue?
    var embdNormalize: Int?

    enum CodingKeys: String, CodingKey { case model, input, content, embdNormalize = "embd_normalize" }
}

struct NativeEmbedding: Encodable {
    let index: Int
    let embedding: [[Double]]
}
