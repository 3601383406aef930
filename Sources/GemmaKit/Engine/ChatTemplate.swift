import CLlama
import CLlamaCommon
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

/// Which chat template `serve` renders chats with, and how: the model's own, a built-in format by
/// name or a template's text, with llama.cpp's Jinja engine or without; chosen once at start
/// (`ChatTemplateOptions.resolve`, in Settings/, reads the flags).
public struct ChatTemplateOptions: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// The GGUF's own template (`tokenizer.chat_template`).
        case model
        /// One of llama.cpp's built-in formats by name (`gemma`).
        case builtIn(String)
        /// A template file's text.
        case file(path: String, text: String)
    }

    public var source: Source
    /// Render Jinja templates with llama.cpp's Jinja engine (llama-server's default); off: only
    /// the formats llama.cpp recognises by their text are used.
    public var jinja: Bool

    public init(source: Source = .model, jinja: Bool = true) {
        self.source = source
        self.jinja = jinja
    }

    /// llama.cpp's built-in format names.
    public static var builtInNames: [String] {
        let count = Int(llama_chat_builtin_templates(nil, 0))
        var names = [UnsafePointer<CChar>?](repeating: nil, count: count)
        let filled = Int(llama_chat_builtin_templates(&names, names.count))
        return names.prefix(filled).compactMap { $0.map { String(cString: $0) } }
    }
}

/// A Jinja chat template parsed by llama.cpp's common library (the engine llama-server uses),
/// with the model's BOS and EOS tokens. Read-only once made, so shared between requests.
final class JinjaChatTemplate: @unchecked Sendable {
    let handle: OpaquePointer
    /// Whether llama.cpp's chat layer finds a thinking syntax in the template (a one-message chat
    /// rendered with thinking asked for, as llama-server decides whether chats think by default).
    private(set) var supportsThinking = false

    /// Parses `source`, or the model's own template when it is nil.
    init(model: LlamaModel?, source: String?) throws(EngineError) {
        var error: UnsafeMutablePointer<CChar>?
        defer { gemma_common_free(error) }
        guard let handle = gemma_chat_templates_init(model?.pointer, source, &error) else {
            throw EngineError(.templateFailed, Self.reason(error))
        }
        self.handle = handle
        let probe = ChatRenderRequest(messagesJSON: Data(#"[{"role":"user","content":"test"}]"#.utf8), reasoningFormat: .deepseek)
        supportsThinking = (try? render(probe))?.supportsThinking ?? false
    }

    deinit { gemma_chat_templates_free(handle) }

    /// The template's source text.
    var source: String { Self.take(gemma_chat_templates_source(handle)) ?? "" }

    /// What the template supports (`supports_system_role`, `supports_tools`, …), as llama-server reports it.
    var capabilitiesJSON: String { Self.take(gemma_chat_templates_caps(handle)) ?? "{}" }


    /// The prompt `messages` render to; `kwargsJSON` is a JSON object of extra template variables.
    func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, kwargsJSON: String?) throws(EngineError) -> String {
        let messagesJSON = String(decoding: (try? JSONEncoder().encode(messages)) ?? Data("[]".utf8), as: UTF8.self)
        var prompt: UnsafeMutablePointer<CChar>?
        var error: UnsafeMutablePointer<CChar>?
        defer {
            gemma_common_free(prompt)
            gemma_common_free(error)
        }
        guard gemma_chat_templates_apply(handle, messagesJSON, addGenerationPrompt, kwargsJSON, &prompt, &error) == 0,
              let prompt else {
            throw EngineError(.templateFailed, "the chat template could not render these messages: " + Self.reason(error),
                              recovery: "check the messages against what the model's template accepts (e.g. alternating user and assistant turns)")
        }
        return String(cString: prompt)
    }

    /// The engine's error as one line of bounded length. A Jinja failure comes as several lines
    /// (where in the template, a caret, then `Error: …`): the last says what went wrong, e.g. the
    /// template's own `raise_exception` message.
    static func reason(_ error: UnsafeMutablePointer<CChar>?) -> String {
        let text = error.map { String(cString: $0) } ?? "llama.cpp gave no reason"
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var line = lines.last { $0.hasPrefix("Error:") }.map { String($0.dropFirst("Error:".count)) } ?? lines.first ?? text
        line = line.trimmingCharacters(in: .whitespaces)
        if line.hasPrefix("Jinja Exception:") { line = String(line.dropFirst("Jinja Exception:".count)).trimmingCharacters(in: .whitespaces) }
        return line.count > 300 ? String(line.prefix(300)) + "…" : line
    }

    private static func take(_ text: UnsafeMutablePointer<CChar>?) -> String? {
        defer { gemma_common_free(text) }
        return text.map { String(cString: $0) }
    }
}

/// Renders a chat into the prompt text the model was trained on.
///
/// The rule, chosen once when the model loads: `--chat-template NAME` uses llama.cpp's built-in
/// format of that name; a template file or the GGUF's own template is rendered by llama.cpp's
/// Jinja engine (with `--no-jinja`, by llama.cpp's built-in format it recognises from the text);
/// a GGUF without a template gets Gemma's turn format, gemmactl's default model being such a GGUF.
public struct ChatFormatter: Sendable {
    enum Renderer: Sendable {
        case jinja(JinjaChatTemplate)
        /// A built-in format's name, or template text llama.cpp recognises.
        case builtIn(String)
        case gemmaTurns
    }

    let renderer: Renderer

    /// The template in use as clients are shown it (`/props`, Ollama's /api/show): Jinja source,
    /// a built-in format's name, or Gemma's turns written as Jinja.
    public let template: String

    /// How the template renders, for `/props`: `jinja`, `built-in` or `gemma-turns`.
    public var kind: String {
        switch renderer {
        case .jinja: "jinja"
        case .builtIn: "built-in"
        case .gemmaTurns: "gemma-turns"
        }
    }

    /// The template's capabilities as JSON (`chat_template_caps`); nil unless it is Jinja.
    public var capabilitiesJSON: String? {
        if case .jinja(let template) = renderer { return template.capabilitiesJSON }
        return nil
    }

    /// Whether the template writes tool calls in a syntax of its own (its `supports_tool_calls`):
    /// then tools go to the template and replies are read with `rendering(_:)`'s parser; otherwise
    /// a server describes tools itself.
    public var hasToolCallSyntax: Bool {
        guard let json = capabilitiesJSON,
              let caps = try? JSONDecoder().decode([String: Bool].self, from: Data(json.utf8)) else { return false }
        return caps["supports_tool_calls"] == true
    }

    /// Whether the template has a thinking syntax llama.cpp's chat layer knows (Gemma 4, Qwen 3,
    /// DeepSeek R1, gpt-oss, …): chats then think unless asked not to, and replies' thinking is
    /// returned apart from the content.
    public var supportsThinking: Bool {
        if case .jinja(let template) = renderer { return template.supportsThinking }
        return false
    }

    /// The formatter `options` choose for `model` (see the type's rule).
    public init(model: LlamaModel, options: ChatTemplateOptions = ChatTemplateOptions()) throws(EngineError) {
        switch options.source {
        case .builtIn(let name):
            renderer = .builtIn(name)
            template = name
        case .file(_, let text) where options.jinja:
            let jinja = try JinjaChatTemplate(model: model, source: text)
            renderer = .jinja(jinja)
            template = jinja.source
        case .file(_, let text):
            renderer = .builtIn(text)
            template = text
        case .model:
            guard let text = model.chatTemplate else {
                renderer = .gemmaTurns
                template = Self.gemmaTurnsTemplate
                return
            }
            if options.jinja {
                let jinja: JinjaChatTemplate
                do {
                    jinja = try JinjaChatTemplate(model: model, source: nil)
                } catch {
                    throw EngineError(.templateFailed, "\(model.path): its chat template does not parse in llama.cpp's Jinja engine: \(error.message)",
                                      recovery: "start with --no-jinja to use llama.cpp's built-in format for it, or give a template with --chat-template-file PATH or --chat-template NAME")
                }
                renderer = .jinja(jinja)
                template = jinja.source
            } else {
                renderer = Self.applyBuiltIn(template: text, [ChatMessage(role: "user", content: "test")], addGenerationPrompt: true) == nil
                    ? .gemmaTurns : .builtIn(text)
                template = text
            }
        }
    }

    /// A formatter without Jinja: llama.cpp's built-in format for `template` (a name or text it
    /// recognises), Gemma's turns when it is nil or not recognised.
    public init(template: String?) {
        if let template, Self.applyBuiltIn(template: template, [ChatMessage(role: "user", content: "test")], addGenerationPrompt: true) != nil {
            renderer = .builtIn(template)
            self.template = template
        } else {
            renderer = .gemmaTurns
            self.template = Self.gemmaTurnsTemplate
        }
    }

    /// The chat rendered by llama.cpp's chat layer, tools in the template's own syntax, with how
    /// to constrain and parse the reply; nil unless the template is Jinja (built-in formats and
    /// Gemma's turns have no tool or thinking syntax of their own).
    public func rendering(_ request: ChatRenderRequest) throws(EngineError) -> ChatRendering? {
        guard case .jinja(let template) = renderer else { return nil }
        return try template.render(request)
    }

    /// The prompt for `messages` as text, ending where the assistant's reply begins.
    public func format(_ messages: [ChatMessage]) throws(EngineError) -> String { try prompt(messages).text }

    /// The prompt for `messages` in pieces, ending where the assistant's reply begins unless
    /// `addGenerationPrompt` is false. `kwargsJSON` (a JSON object, llama-server's
    /// `chat_template_kwargs`) reaches a Jinja template as extra variables.
    ///
    /// The template is rendered once with a marker in place of each message's content, to find
    /// where content goes, and once with the content, to check the pieces add up to exactly what
    /// the template makes of it (templates may trim it). If they do not, the whole prompt is one
    /// piece of template text, as llama-server tokenizes every prompt.
    public func prompt(_ messages: [ChatMessage], addGenerationPrompt: Bool = true,
                       kwargsJSON: String? = nil) throws(EngineError) -> ChatPrompt {
        let render: ([ChatMessage]) throws(EngineError) -> String?
        switch renderer {
        case .gemmaTurns:
            return Self.gemmaTurns(messages, addGenerationPrompt: addGenerationPrompt)
        case .builtIn(let template):
            render = { messages in Self.applyBuiltIn(template: template, messages, addGenerationPrompt: addGenerationPrompt) }
        case .jinja(let template):
            render = { messages throws(EngineError) in
                try template.render(messages, addGenerationPrompt: addGenerationPrompt, kwargsJSON: kwargsJSON)
            }
        }
        guard let rendered = try render(messages) else {
            // Checked when the formatter was made; a built-in format does not fail on other messages.
            return Self.gemmaTurns(messages, addGenerationPrompt: addGenerationPrompt)
        }
        let nonce = UInt64.random(in: .min ... .max)
        let markers = messages.indices.map { "\u{E000}\(nonce)-\($0)\u{E001}" }
        let marked = zip(messages, markers).map { ChatMessage(role: $0.role, content: $1) }
        if let skeleton = try? render(marked) {
            let transforms: [(String) -> String] = [{ $0 }, { $0.trimmingCharacters(in: .whitespacesAndNewlines) }]
            for transform in transforms {
                let prompt = Self.fill(skeleton, markers: markers, contents: messages.map { transform($0.content) })
                if prompt.text == rendered { return prompt }
            }
        }
        var whole = ChatPrompt()
        whole.append(rendered, isContent: false)
        return whole
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

    /// `messages` in llama.cpp's built-in format `template` (a name, or text it recognises); nil
    /// when llama.cpp knows no such format.
    static func applyBuiltIn(template: String, _ messages: [ChatMessage], addGenerationPrompt: Bool) -> String? {
        let roles = messages.map { strdup($0.role) }
        let contents = messages.map { strdup($0.content) }
        defer { (roles + contents).forEach { free($0) } }
        let chat = zip(roles, contents).map { llama_chat_message(role: $0, content: $1) }
        var capacity = Int32(clamping: max(1024, messages.reduce(0) { $0 + $1.content.utf8.count } * 2 + 512))
        for _ in 0..<2 {
            var buffer = [CChar](repeating: 0, count: Int(capacity))
            let n = llama_chat_apply_template(template, chat, chat.count, addGenerationPrompt, &buffer, capacity)
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
    static func gemmaTurns(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> ChatPrompt {
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
        if addGenerationPrompt { prompt.append("<start_of_turn>model\n", isContent: false) }
        return prompt
    }
}
