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

    public init(_ code: Code, _ message: String, recovery: String? = nil) {
        self.code = code
        self.message = message
        self.recovery = recovery
    }
}
