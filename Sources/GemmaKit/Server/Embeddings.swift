import Foundation

/// One input of an embeddings request, as llama-server reads prompts: text (special tokens
/// parsed, BOS added), or a list of token ids and texts that are joined (BOS before a leading
/// text). OpenAI's and Ollama's inputs are always text.
enum EmbeddingInput: Sendable {
    case text(String)
    case pieces([JSONValue])

    /// The inputs of llama-server's `input`/`content`: one string; one list holding any token id
    /// (one input); or a list of strings and lists (one input each).
    static func inputs(_ value: JSONValue, field: String) throws(APIError) -> [EmbeddingInput] {
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

    /// The bytes of its text: no token stands for more than `LlamaModel.maxTokenBytes` of them.
    var textBytes: Int {
        switch self {
        case .text(let text): text.utf8.count
        case .pieces(let pieces): pieces.reduce(0) { total, piece in if case .string(let text) = piece { total + text.utf8.count } else { total + 4 } }
        }
    }

    var isEmpty: Bool {
        switch self {
        case .text(let text): text.isEmpty
        case .pieces(let pieces): pieces.isEmpty
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
            return tokens
        }
    }
}

/// The one embeddings path, under every API's endpoints (`EmbeddingsController`): the limits
/// and the empty-input rule, a size check before any tokenizing, tokenizing off the cooperative
/// pool, then the engine.
struct Embeddings: Sendable {
    /// The most inputs one request may hold.
    static let maxInputs = 256

    /// The rows of each input, with how many tokens they took.
    struct Result: Sendable {
        /// Per input: the pooled vector, or one vector per token when the server pools nothing.
        let rows: [[[Float]]]
        let tokenCount: Int
        /// Whether the rows are per token (the server pools nothing), not pooled.
        let perToken: Bool
        /// The model that embedded them, as answers name it.
        let modelID: String
    }

    let server: ServerCore

    /// Embeds `inputs`, the request field `field`. `pooled`: the API answers one vector per input,
    /// which a server that pools nothing (`--pooling none`) cannot give.
    func embed(_ inputs: [EmbeddingInput], field: String, pooled: Bool, model name: String?) async throws -> Result {
        let loaded = try await server.requireModel(named: name)
        let engine = loaded.engine
        if pooled, engine.options.embeddingPooling == .none {
            // llama-server's words, then how to get what was asked.
            throw APIError.badRequest("Pooling type 'none' is not OAI compatible. Please use a different pooling type; "
                + "start the server with --pooling mean, cls or last, or use POST /embedding for one vector per token", param: field)
        }
        guard !inputs.isEmpty else { throw APIError.badRequest("'\(field)' must not be empty: send at least one input", param: field) }
        guard inputs.count <= Self.maxInputs else {
            throw APIError.badRequest("'\(field)' takes at most \(Self.maxInputs) inputs, got \(inputs.count)", param: field)
        }
        let names = inputs.indices.map { inputs.count == 1 ? field : "\(field)[\($0)]" }
        let limit = engine.options.embeddingContextSize
        let mostBytes = limit * loaded.model.maxTokenBytes
        for (index, input) in inputs.enumerated() {
            if input.isEmpty { throw APIError.badRequest("'\(names[index])' is empty", param: field) }
            if input.textBytes > mostBytes {
                throw APIError.badRequest("'\(names[index])' is \(input.textBytes) bytes, more than an embedding input of at most "
                    + "\(limit) tokens can hold (at most \(mostBytes) bytes); shorten it", param: field)
            }
        }
        let model = loaded.model
        let tokens = try await ServerCore.offCooperativePool { () -> Swift.Result<[[Token]], APIError> in
            Swift.Result { () throws(APIError) in try inputs.enumerated().map { index, input throws(APIError) in
                try input.tokens(model: model, field: names[index])
            } }
        }.get()
        let rows = try await engine.embeddingRows(tokens)
        return Result(rows: rows, tokenCount: tokens.reduce(0) { $0 + $1.count }, perToken: engine.options.embeddingPooling == .none,
                      modelID: loaded.modelID)
    }
}
