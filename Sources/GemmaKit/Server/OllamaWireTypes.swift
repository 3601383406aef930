import Foundation

/// A line of `/api/generate` or `/api/chat` (or the whole answer): the text under `response`
/// (generate) or `message` (chat); the last one has `done: true`, why, and the timings
/// (nanoseconds, as Ollama counts).
struct OllamaChunk: Encodable {
    let model: String
    let createdAt = OllamaController.timestamp()
    var response: String?
    /// `/api/generate`'s thinking, apart from `response`.
    var thinking: String?
    var message: Message?
    let done: Bool
    var doneReason: String?
    var totalDuration: Int64?, loadDuration: Int64?, promptEvalCount: Int?, promptEvalDuration: Int64?
    var evalCount: Int?, evalDuration: Int64?

    init(model: String, done: Bool) {
        self.model = model
        self.done = done
    }

    struct Message: Encodable {
        let role = "assistant"
        let content: String
        var thinking: String? = nil
        let toolCalls: [Call]?
    }

    /// A call in Ollama's shape: arguments as an object.
    struct Call: Encodable {
        struct Function: Encodable {
            let name: String
            let arguments: JSONValue
        }
        let function: Function

        init(_ call: ToolCall) { function = Function(name: call.name, arguments: call.arguments) }

        /// A call read by the template's parser: arguments as JSON text.
        init(_ call: ChatReplyParser.ToolCall) {
            let arguments = try? JSONDecoder().decode(JSONValue.self, from: Data(call.arguments.utf8))
            function = Function(name: call.name, arguments: arguments ?? .string(call.arguments))
        }
    }
}

/// The served model in `/api/tags` and `/api/ps`: size, digest and details once it is loaded,
/// and in `/api/ps` what Ollama says of a running model.
struct OllamaModelEntry: Encodable {
    let name: String
    let model: String
    let modifiedAt: String
    var size: UInt64?
    var digest: String?
    var details: OllamaModelDetails?
    var contextLength: Int?, sizeVram: Int?, expiresAt: String?

    init(name: String, modifiedAt: String) {
        self.name = name
        model = name
        self.modifiedAt = modifiedAt
    }
}

struct OllamaModelDetails: Encodable {
    let parentModel = ""
    let format = "gguf"
    let family: String
    let families: [String]
    let parameterSize: String
    let quantizationLevel: String

    init(family: String, parameterSize: String, quantizationLevel: String) {
        self.family = family
        families = [family]
        self.parameterSize = parameterSize
        self.quantizationLevel = quantizationLevel
    }
}

/// `/api/show`: the model card; `model_info` is the GGUF's metadata, arrays null unless asked for whole.
struct OllamaModelCard: Encodable {
    let modelfile: String
    let parameters: String
    let template: String
    let details: OllamaModelDetails
    let modelInfo: [String: JSONValue]
    let capabilities: [String]
    let modifiedAt: String
}
