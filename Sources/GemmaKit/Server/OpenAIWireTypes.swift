import Foundation

struct Usage: Encodable {
    let promptTokens: Int, completionTokens: Int, totalTokens: Int
    let promptTokensDetails: Details
    struct Details: Encodable {
        let cachedTokens: Int
    }
    init(_ stats: GenerationStats) { self.init([stats]) }

    /// Of several choices of one prompt: the prompt counted once, the completions summed.
    init(_ stats: [GenerationStats]) {
        promptTokens = stats.first?.promptTokens ?? 0
        completionTokens = stats.reduce(0) { $0 + $1.completionTokens }
        totalTokens = promptTokens + completionTokens
        promptTokensDetails = Details(cachedTokens: stats.first?.cachedTokens ?? 0)
    }
}

struct ChatLogprobs: Encodable {
    struct Entry: Encodable {
        let token: String, logprob: Double, bytes: [UInt8]
        let topLogprobs: [Alternative]
    }
    struct Alternative: Encodable { let token: String, logprob: Double, bytes: [UInt8] }
    let content: [Entry]

    init?(_ logprobs: [TokenLogprob], enabled: Bool) {
        guard enabled else { return nil }
        content = logprobs.map { entry in
            Entry(token: entry.token, logprob: entry.logprob, bytes: entry.bytes,
                  topLogprobs: entry.top.map { Alternative(token: $0.token, logprob: $0.logprob, bytes: $0.bytes) })
        }
    }
}

struct CompletionLogprobs: Encodable {
    let tokens: [String], tokenLogprobs: [Double], topLogprobs: [[String: Double]]

    init?(_ logprobs: [TokenLogprob], enabled: Bool) {
        guard enabled else { return nil }
        tokens = logprobs.map(\.token)
        tokenLogprobs = logprobs.map(\.logprob)
        topLogprobs = logprobs.map { entry in Dictionary(entry.top.map { ($0.token, $0.logprob) }, uniquingKeysWith: max) }
    }
}

struct ChatCompletion: Encodable {
    let id: String
    let object = "chat.completion"
    let created: Int, model: String
    let systemFingerprint = SystemFingerprint.value
    let choices: [Choice]
    let usage: Usage
    let timings: LlamaTimings?
    /// llama-server's native answer, with `-v` or a request's `verbose`.
    var verbose: NativeVerbose?
    enum CodingKeys: String, CodingKey {
        case id, object, created, model, systemFingerprint, choices, usage, timings, verbose = "__verbose"
    }
    struct Choice: Encodable {
        let index: Int
        let message: Message
        @WrittenAsNull var logprobs: ChatLogprobs? = nil
        let finishReason: String
    }
    /// The assistant's message: `content` null when it called tools and wrote nothing else,
    /// `tool_calls` left out when it did not, `reasoning_content` (llama-server's) when it thought.
    struct Message: Encodable {
        let role = "assistant"
        @WrittenAsNull var content: String? = nil
        var reasoningContent: String?
        let toolCalls: [OpenAIToolCall]?

        init(_ reply: ToolReply) {
            content = reply.calls.isEmpty ? reply.content : nil
            toolCalls = reply.calls.isEmpty ? nil : reply.calls.map { OpenAIToolCall($0) }
        }

        init(_ message: ChatReplyParser.Message) {
            content = message.toolCalls.isEmpty || !message.content.isEmpty ? message.content : nil
            reasoningContent = message.reasoningContent.isEmpty ? nil : message.reasoningContent
            toolCalls = message.toolCalls.isEmpty ? nil
                : message.toolCalls.map { OpenAIToolCall(id: $0.id, name: $0.name, arguments: $0.arguments) }
        }
    }
}

/// The fields every completion object shares; `usage` is left out while nil (chunks before the last).
struct CompletionEnvelope<Choice: Encodable>: Encodable {
    let id: String
    let object: String
    let created: Int
    let model: String
    var systemFingerprint = SystemFingerprint.value
    let choices: [Choice]
    var usage: Usage?
    /// llama-server's: in the last chunk, or every chunk with `timings_per_token`.
    var timings: LlamaTimings?
    /// llama-server's `return_progress` chunks.
    var promptProgress: PromptProgressJSON?
    /// llama-server's native answer (or streamed object), with `-v` or a request's `verbose`.
    var verbose: NativeVerbose?

    enum CodingKeys: String, CodingKey {
        case id, object, created, model, systemFingerprint, choices, usage, timings, promptProgress, verbose = "__verbose"
    }
}

typealias ChatChunk = CompletionEnvelope<ChatChunkChoice>
typealias TextCompletion = CompletionEnvelope<TextChoice>

extension CompletionEnvelope where Choice == ChatChunkChoice {
    init(_ identity: ResponseIdentity, choices: [Choice], usage: Usage? = nil) {
        self.init(id: identity.id, object: "chat.completion.chunk", created: identity.created, model: identity.model,
                  choices: choices, usage: usage, timings: nil, promptProgress: nil)
    }
}

extension CompletionEnvelope where Choice == TextChoice {
    init(_ identity: ResponseIdentity, choices: [Choice], usage: Usage? = nil) {
        self.init(id: identity.id, object: "text_completion", created: identity.created, model: identity.model,
                  choices: choices, usage: usage, timings: nil, promptProgress: nil)
    }
}

/// One streamed chat choice; `logprobs` and `finish_reason` are sent as null until known, as OpenAI does.
struct ChatChunkChoice: Encodable {
    var index = 0
    var delta: Delta
    @WrittenAsNull var logprobs: ChatLogprobs? = nil
    @WrittenAsNull var finishReason: String? = nil

    struct Delta: Encodable {
        var role: String?
        var content: String?
        var reasoningContent: String?
        var toolCalls: [ToolCallDelta]?

        enum CodingKeys: String, CodingKey { case role, content, reasoningContent, toolCalls }

        /// A delta that names the role (the first chunk, a progress chunk) says `content: null`,
        /// as llama-server's; the others carry only what they add.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(role, forKey: .role)
            if role != nil {
                try container.encode(content, forKey: .content)
            } else {
                try container.encodeIfPresent(content, forKey: .content)
            }
            try container.encodeIfPresent(reasoningContent, forKey: .reasoningContent)
            try container.encodeIfPresent(toolCalls, forKey: .toolCalls)
        }
    }

    /// A streamed piece of a call, as llama-server sends it: its first piece has the id, type
    /// and name, later ones only argument text.
    struct ToolCallDelta: Encodable {
        let index: Int
        var id: String?
        var type: String?
        var function: Function?

        struct Function: Encodable {
            var name: String?
            var arguments: String?
        }

        /// A whole call in one piece.
        init(_ call: ToolCall, index: Int) {
            self.init(index: index, id: call.id, name: call.name, arguments: call.arguments.jsonText)
        }

        init(index: Int, id: String?, name: String?, arguments: String) {
            self.index = index
            self.id = id
            type = id == nil ? nil : "function"
            function = name == nil && arguments.isEmpty ? nil : Function(name: name, arguments: arguments.isEmpty ? nil : arguments)
        }
    }
}

/// One text completion choice, streamed or whole.
struct TextChoice: Encodable {
    var index = 0
    var text: String
    @WrittenAsNull var logprobs: CompletionLogprobs? = nil
    @WrittenAsNull var finishReason: String? = nil
}

/// A call in OpenAI's shape, in a message (streamed: `ChatChunkChoice.ToolCallDelta`).
struct OpenAIToolCall: Encodable {
    let id: String
    let type = "function"
    let function: Function

    struct Function: Encodable {
        let name: String
        /// JSON text, as OpenAI sends it.
        let arguments: String
    }

    init(_ call: ToolCall) {
        self.init(id: call.id, name: call.name, arguments: call.arguments.jsonText)
    }

    init(id: String, name: String, arguments: String) {
        self.id = id
        function = Function(name: name, arguments: arguments)
    }
}
