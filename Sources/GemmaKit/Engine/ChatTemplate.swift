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

/// Renders a chat into the prompt text the model was trained on.
public struct ChatFormatter: Sendable {
    /// The template from the GGUF, if it has one.
    public let template: String?

    public init(model: LlamaModel) { template = model.chatTemplate }
    public init(template: String?) { self.template = template }

    /// The prompt for `messages`, ending where the assistant's reply begins.
    ///
    /// Uses the model's template through llama.cpp; when the GGUF has none, or llama.cpp does not
    /// recognise it, falls back to Gemma's turn format.
    public func format(_ messages: [ChatMessage]) -> String {
        if let template, let rendered = Self.apply(template: template, messages) { return rendered }
        return Self.gemmaTurns(messages)
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

    /// Gemma's format: no system role, so a system message is folded into the first user turn.
    static func gemmaTurns(_ messages: [ChatMessage]) -> String {
        var output = ""
        var system = messages.filter { $0.role == "system" }.map(\.content).joined(separator: "\n\n")
        for message in messages where message.role != "system" {
            let role = message.role == "assistant" ? "model" : "user"
            var content = message.content
            if role == "user", !system.isEmpty {
                content = system + "\n\n" + content
                system = ""
            }
            output += "<start_of_turn>\(role)\n\(content)<end_of_turn>\n"
        }
        if !system.isEmpty { output += "<start_of_turn>user\n\(system)<end_of_turn>\n" }
        return output + "<start_of_turn>model\n"
    }
}
