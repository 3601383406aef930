/// Errors from the inference engine: loading a model, creating a context, tokenizing, decoding.
///
/// A struct around a private code so cases can grow without breaking callers; compare with the
/// static members (`error.code == .modelNotFound`).
public struct EngineError: ActionableError, Equatable {
    /// Which kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case modelNotFound, modelUnreadable, notGGUF, truncatedModel, corruptModel
            case unsupportedArchitecture, modelLoadFailed, contextCreationFailed
            case promptTooLong, emptyPrompt, decodeFailed, invalidParameter, grammarFailed, templateFailed, replyParseFailed
            case queueFull, shuttingDown, cancelled, embeddingsFailed, slotFileRejected, slotSaveFailed
        }
        fileprivate let base: Base
        public var description: String { base.rawValue }

        public static let modelNotFound = Code(base: .modelNotFound)
        public static let modelUnreadable = Code(base: .modelUnreadable)
        public static let notGGUF = Code(base: .notGGUF)
        public static let truncatedModel = Code(base: .truncatedModel)
        public static let corruptModel = Code(base: .corruptModel)
        public static let unsupportedArchitecture = Code(base: .unsupportedArchitecture)
        public static let modelLoadFailed = Code(base: .modelLoadFailed)
        public static let contextCreationFailed = Code(base: .contextCreationFailed)
        public static let promptTooLong = Code(base: .promptTooLong)
        public static let emptyPrompt = Code(base: .emptyPrompt)
        public static let decodeFailed = Code(base: .decodeFailed)
        public static let invalidParameter = Code(base: .invalidParameter)
        public static let grammarFailed = Code(base: .grammarFailed)
        /// The chat template could not render a request's messages.
        public static let templateFailed = Code(base: .templateFailed)
        /// llama.cpp's chat parser failed on a reply in a way other than the reply not matching the syntax.
        public static let replyParseFailed = Code(base: .replyParseFailed)
        public static let queueFull = Code(base: .queueFull)
        public static let shuttingDown = Code(base: .shuttingDown)
        public static let cancelled = Code(base: .cancelled)
        public static let embeddingsFailed = Code(base: .embeddingsFailed)
        /// A slot file that is missing, or not a saved slot of this model and context.
        public static let slotFileRejected = Code(base: .slotFileRejected)
        public static let slotSaveFailed = Code(base: .slotSaveFailed)
    }

    public let code: Code
    public let message: String
    public let recovery: String?
    /// What of a request the engine refused, typed, for the server to name the request's field
    /// (the engine knows no wire names); nil for failures that are not about a request's value.
    public let refusal: Refusal?

    public init(_ code: Code, _ message: String, recovery: String? = nil) {
        self.code = code
        self.message = message
        self.recovery = recovery
        refusal = nil
    }

    /// The error for a request's value the engine refuses, its message in the engine's terms.
    public init(_ refusal: Refusal) {
        self.refusal = refusal
        recovery = nil
        switch refusal {
        case .outOfRange(let parameter, let value, let requirement):
            code = .invalidParameter
            message = "\(parameter.rawValue) must be \(requirement), got \(value)"
        case .unknownToken(let parameter, let token, let vocabulary):
            code = .invalidParameter
            message = "\(parameter.rawValue) holds token \(token), not in the model's vocabulary (0..<\(vocabulary))"
        case .promptTooLong(let tokens, let limit):
            code = .promptTooLong
            message = "the prompt is \(tokens) tokens but a slot's context holds \(limit)"
        case .emptyEmbeddingInput(let index):
            code = .emptyPrompt
            message = "embedding input \(index) is empty"
        case .embeddingInputTooLong(let index, let tokens, let limit):
            code = .promptTooLong
            message = "embedding input \(index) is \(tokens) tokens but embeddings take at most \(limit)"
        case .unusableSchema(let reason):
            code = .invalidParameter
            message = "the JSON Schema cannot be turned into a grammar: \(reason)"
        }
    }

    /// A request's value the engine refuses.
    public enum Refusal: Sendable, Equatable {
        /// `parameter` is `value`, outside what it may be (`requirement`, e.g. "between 0 and 1").
        case outOfRange(RequestParameter, value: String, requirement: String)
        /// `parameter` names a token outside the model's vocabulary of `vocabulary` tokens.
        case unknownToken(RequestParameter, token: Token, vocabulary: Int)
        /// A prompt of `tokens` tokens for a slot that holds `limit`.
        case promptTooLong(tokens: Int, limit: Int)
        /// Input `index` of an embeddings request has no tokens.
        case emptyEmbeddingInput(index: Int)
        /// Input `index` of an embeddings request has `tokens` tokens, more than the embeddings context's `limit`.
        case embeddingInputTooLong(index: Int, tokens: Int, limit: Int)
        /// A JSON Schema llama.cpp's converter cannot follow, and why.
        case unusableSchema(reason: String)
    }

    /// The parts of a request the engine checks, by their engine names.
    public enum RequestParameter: String, Sendable, Equatable, CaseIterable {
        case temperature, topK, topP, minP, repeatPenalty, presencePenalty, frequencyPenalty, penaltyLastN
        case maxTokens, slot, prompt, logitBias
    }
}
