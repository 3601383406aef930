import Foundation
import Hummingbird

/// llama-server's native embeddings, `POST /embedding` and `/embeddings` (no `/v1`): answers
/// `[{"index": i, "embedding": [[…], …]}]`, one row for a pooled input and one per token when the
/// server pools nothing (`EngineOptions.embeddingPooling`). `/v1/embeddings` is OpenAI's shape.
struct NativeEmbeddingsController: Sendable {
    let server: ServerCore

    /// The most inputs one request may hold, as for `/v1/embeddings`.
    static let maxInputs = 256

    var endpoints: [Endpoint] {
        ["/embedding", "/embeddings"].map { path in Endpoint(.post, path) { request, _ in try await embeddings(request) } }
    }

    func embeddings(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(NativeEmbeddingRequest.self, from: request, limit: server.configuration.maxBodySize)
        let loaded = try server.requireModel()
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
        let prompts = try NativeEmbeddingInput.prompts(value, field: field)
        guard !prompts.isEmpty else { throw APIError.badRequest("\"\(field)\" must not be empty", param: field) }
        guard prompts.count <= Self.maxInputs else {
            throw APIError.badRequest("'\(field)' takes at most \(Self.maxInputs) inputs, got \(prompts.count)", param: field)
        }
        let model = loaded.model
        let tokens = try await ServerCore.offCooperativePool { () -> Result<[[Token]], APIError> in
            Result { () throws(APIError) in try prompts.enumerated().map { index, prompt throws(APIError) in
                try prompt.tokens(model: model, field: prompts.count == 1 ? field : "\(field)[\(index)]")
            } }
        }.get()
        let rows = try await loaded.engine.embeddingRows(tokens)
        // As llama-server: a pooled vector is normalised, per-token rows are given as computed.
        let pooled = loaded.engine.options.embeddingPooling != .none
        let answer: [[String: Any]] = rows.enumerated().map { index, vectors in
            ["index": index, "embedding": vectors.map { (pooled ? normalization.apply($0) : $0).map(Double.init) }]
        }
        return JSONBody.response(object: answer)
    }
}

struct NativeEmbeddingRequest: Decodable {
    var input: JSONValue?
    var content: JSONValue?
    var embdNormalize: Int?

    enum CodingKeys: String, CodingKey { case input, content, embdNormalize = "embd_normalize" }
}

/// One input of a native embedding request, as llama-server reads prompts: text (special tokens
/// parsed, BOS added), or a list of token ids and texts that are joined (BOS before a leading text).
enum NativeEmbeddingInput: Sendable {
    case text(String)
    case pieces([JSONValue])

    /// The inputs of `value`: one string; one list holding any token id (one input); or a list of
    /// strings and lists (one input each).
    static func prompts(_ value: JSONValue, field: String) throws(APIError) -> [NativeEmbeddingInput] {
        switch value {
        case .string(let text):
            return [.text(text)]
        case .array(let items) where items.contains(where: { if case .integer = $0 { true } else { false } }):
            return [.pieces(items)]
        case .array(let items):
            return try items.enumerated().map { index, item throws(APIError) in
                switch item {
                case .string(let text): return .text(text)
                case .array(let pieces): return .pieces(pieces)
                default:
                    throw APIError.badRequest("'\(field)[\(index)]' must be a string or an array of token ids and strings", param: field)
                }
            }
        default:
            throw APIError.badRequest("'\(field)' must be a string, an array of token ids, or an array of strings and token arrays",
                                      param: field)
        }
    }

    /// The tokens, token ids checked against the vocabulary.
    func tokens(model: LlamaModel, field: String) throws(APIError) -> [Token] {
        switch self {
        case .text(let text):
            return model.tokenize(text, addSpecial: true, parseSpecial: true)
        case .pieces(let pieces):
            var tokens: [Token] = []
            for (index, piece) in pieces.enumerated() {
                switch piece {
                case .integer(let id) where id >= 0 && id < Int64(model.vocabularySize):
                    tokens.append(Token(id))
                case .string(let text):
                    tokens += model.tokenize(text, addSpecial: index == 0, parseSpecial: true)
                default:
                    throw APIError.badRequest("'\(field)[\(index)]' must be a token id (0..<\(model.vocabularySize)) or a string",
                                              param: field)
                }
            }
            guard !tokens.isEmpty else { throw APIError.badRequest("Input content cannot be empty: '\(field)'", param: field) }
            return tokens
        }
    }
}
