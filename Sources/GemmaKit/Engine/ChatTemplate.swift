import CLlama
import Foundation

/// One message of a chat.
public struct ChatMessage: Sendable, Equatable, Codable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A chat rendered for the model, in pieces: the template's own text, where control tokens such
/// as `<start_of_turn>` are meant, and the messages' content, which is plain text whatever it
/// holds (so a user who types `<start_of_turn>` cannot open a turn).
public struct ChatPrompt: Sendable, Equatable {
    public struct Piece: Sendable, Equatable {
        public var text: String
        /// Message content: tokenized without special tokens.
        public var isContent: Bool
    }

    public var pieces: [Piece] = []

    /// The whole prompt as text (for logs and `generate`).
    public var text: String { pieces.map(\.text).joined() }

    mutating func append(_ text: String, isContent: Bool) {
        guard !text.isEmpty else { return }
        pieces.append(Piece(text: text, isContent: isContent))
    }
}

/// Renders a chat into the prompt text the model was trained on.
public struct ChatFormatter: Sendable {
    /// The template from the GGUF, if it has one.
    public let template: String?

    public init(model: LlamaModel) { template = model.chatTemplate }
    public init(template: String?) { self.template = template }

    /// The prompt for `messages`, ending where the assistant's reply begins.
    public func format(_ messages: [ChatMessage]) -> String { prompt(messages).text }

    /// The prompt for `messages` in pieces, ending where the assistant's reply begins.
    ///
    /// Uses the model's template through llama.cpp; when the GGUF has none, or llama.cpp does not
    /// recognise it, falls back to Gemma's turn format. The template is rendered once with a
    /// marker in place of each message's content, to find where content goes, and once with the
    /// content, to check the pieces add up to exactly what the template makes of it (templates may
    /// trim it); if they do not, Gemma's turns are used, whose pieces are known.
    public func prompt(_ messages: [ChatMessage]) -> ChatPrompt {
        if let template, let rendered = Self.apply(template: template, messages) {
            let nonce = UInt64.random(in: .min ... .max)
            let markers = messages.indices.map { "\u{E000}\(nonce)-\($0)\u{E001}" }
            let marked = zip(messages, markers).map { ChatMessage(role: $0.role, content: $1) }
            if let skeleton = Self.apply(template: template, marked) {
                let transforms: [(String) -> String] = [{ $0 }, { $0.trimmingCharacters(in: .whitespacesAndNewlines) }]
                for transform in transforms {
                    let prompt = Self.fill(skeleton, markers: markers, contents: messages.map { transform($0.content) })
                    if prompt.text == rendered { return prompt }
                }
            }
        }
        return Self.gemmaTurns(messages)
    }

    /// `skeleton` split at each marker, the marker replaced by its message's content.
    private static func fill(_ skeleton: String, markers: [String], contents: [String]) -> ChatPrompt {
        var prompt = ChatPrompt()
        var rest = Substring(skeleton)
        while let start = rest.firstIndex(of: "\u{E000}") {
            prompt.append(String(rest[..<start]), isContent: false)
            guard let end = rest[start...].firstIndex(of: "\u{E001}"),
                  let index = markers.firstIndex(of: String(rest[start...end])) else {
                // Not one of ours: the template's own text (the check against the real render decides).
                prompt.append(String(rest[start...start]), isContent: false)
                rest = rest[rest.index(after: start)...]
                continue
            }
            prompt.append(contents[index], isContent: true)
            rest = rest[rest.index(after: end)...]
        }
        prompt.append(String(rest), isContent: false)
        return prompt
    }

    static func apply(template: String, _ messages: [ChatMessage]) -> String? {
        let roles = messages.map { strdup($0.role) }
        let contents = messages.map { strdup($0.content) }
        defer { (roles + contents).forEach { free($0) } }
        let chat = zip(roles, contents).map { llama_chat_message(role: $0, content: $1) }
        var capacity = Int32(clamping: max(1024, messages.reduce(0) { $0 + $1.content.utf8.count } * 2 + 512))
        for _ in 0..<2 {
            var buffer = [CChar](repeating: 0, count: Int(capacity))
            let n = llama_chat_apply_template(template, chat, chat.count, true, &buffer, capacity)
            guard n >= 0 else { return nil }
            if n <= capacity {
                return String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            capacity = n + 1
        }
        return nil
    }

    /// `gemmaTurns` as a Jinja template, for clients that ask which template is used (Ollama's
    /// /api/show) when the GGUF has none.
    public static let gemmaTurnsTemplate = "{# system messages are prepended to the first user turn #}"
        + "{% for message in messages %}{% if message.role != 'system' %}<start_of_turn>"
        + "{{ 'model' if message.role == 'assistant' else 'user' }}\n{{ message.content }}<end_of_turn>\n"
        + "{% endif %}{% endfor %}<start_of_turn>model\n"

    /// Gemma's format: no system role, so a system message is folded into the first user turn.
    static func gemmaTurns(_ messages: [ChatMessage]) -> ChatPrompt {
        var prompt = ChatPrompt()
        var system = messages.filter { $0.role == "system" }.map(\.content).joined(separator: "\n\n")
        for message in messages where message.role != "system" {
            let role = message.role == "assistant" ? "model" : "user"
            prompt.append("<start_of_turn>\(role)\n", isContent: false)
            if role == "user", !system.isEmpty {
                prompt.append(system + "\n\n", isContent: true)
                system = ""
            }
            prompt.append(message.content, isContent: true)
            prompt.append("<end_of_turn>\n", isContent: false)
        }
        if !system.isEmpty {
            prompt.append("<start_of_turn>user\n", isContent: false)
            prompt.append(system, isContent: true)
            prompt.append("<end_of_turn>\n", isContent: false)
        }
        prompt.append("<start_of_turn>model\n", isContent: false)
        return prompt
    }
}
