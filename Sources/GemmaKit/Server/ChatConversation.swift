import Foundation

/// A chat as every chat API hands it on: OpenAI's and Ollama's `messages`, the Responses API's
/// `input` items and Anthropic's blocks translate into it. Its rules (known roles, at least
/// one message, no two assistant messages at the end) are checked here, once, and
/// `templateMessages(tools:)` is the one conversion into what the chat template renders.
struct ChatConversation: Sendable {
    enum Role: String, Sendable, CaseIterable {
        case system, developer, user, assistant, tool
    }

    /// A call an earlier assistant turn made, as the history carries it.
    struct Call: Sendable, Equatable {
        let id: String?
        let name: String
        let arguments: JSONValue
    }

    struct Message: Sendable {
        var role: Role
        /// The message's text (text parts joined by newlines).
        var content: String
        /// What an assistant turn reasoned before answering (OpenAI's `reasoning_content`,
        /// Ollama's `thinking`): kept, not rendered, as Gemma 3's template has no place for it.
        var reasoning: String?
        /// An assistant turn's calls.
        var toolCalls: [Call] = []
        /// A tool turn's call (OpenAI's `tool_call_id`) and function (OpenAI's `name`, Ollama's `tool_name`).
        var toolCallID: String?
        var toolName: String?

        init(role: Role, content: String, reasoning: String? = nil, toolCalls: [Call] = [],
             toolCallID: String? = nil, toolName: String? = nil) {
            self.role = role
            self.content = content
            self.reasoning = reasoning
            self.toolCalls = toolCalls
            self.toolCallID = toolCallID
            self.toolName = toolName
        }
    }

    let messages: [Message]

    /// `messages` checked: at least one, and not two assistant messages at the end (the last of
    /// them would be continued, and continuing two is not defined; llama-server refuses it too).
    /// `field` is the request field that holds them.
    init(_ messages: [Message], field: String) throws(APIError) {
        guard !messages.isEmpty else { throw APIError.badRequest("'\(field)' must hold at least one message", param: field) }
        if messages.count >= 2, messages.suffix(2).allSatisfy({ $0.role == .assistant }) {
            throw APIError.badRequest("'\(field)' cannot end with 2 or more assistant messages", param: field)
        }
        self.messages = messages
    }

    /// The role `text` names, one of `allowed`; the error names `field`.
    static func role(_ text: String?, field: String, allowed: [Role] = Role.allCases) throws(APIError) -> Role {
        guard let text, let role = Role(rawValue: text), allowed.contains(role) else {
            let names = allowed.map(\.rawValue)
            throw APIError.badRequest("'\(field)' must be \(names.dropLast().joined(separator: ", ")) or \(names.last ?? "")"
                + (text.map { ", got '\($0)'" } ?? ""), param: field)
        }
        return role
    }
}

extension ChatConversation {
    /// OpenAI's or Ollama's `messages`; errors name the message's field.
    init(_ bodies: [ChatMessageBody], field: String = "messages") throws(APIError) {
        var messages: [Message] = []
        for (index, body) in bodies.enumerated() {
            let item = "\(field)[\(index)]"
            messages.append(Message(role: try Self.role(body.role, field: "\(item).role"), content: body.content?.text ?? "",
                                    reasoning: body.reasoningContent ?? body.thinking,
                                    toolCalls: try Self.calls(body.toolCalls ?? [], field: "\(item).tool_calls"),
                                    toolCallID: body.toolCallID, toolName: body.name ?? body.toolName))
        }
        try self.init(messages, field: field)
    }

    /// OpenAI sends `arguments` as JSON text, Ollama as an object; both are accepted.
    private static func calls(_ calls: [JSONValue], field: String) throws(APIError) -> [Call] {
        var parsed: [Call] = []
        for (index, call) in calls.enumerated() {
            guard let function = call.objectValue?["function"]?.objectValue, case .string(let name)? = function["name"] else {
                throw APIError.badRequest("'\(field)[\(index)].function.name' is required", param: "\(field)[\(index)].function.name")
            }
            var id: String?
            if case .string(let value)? = call.objectValue?["id"] { id = value }
            let arguments: JSONValue
            switch function["arguments"] {
            case nil, .null?: arguments = .object([:])
            case .string(let text)?: arguments = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string(text)
            case let value?: arguments = value
            }
            parsed.append(Call(id: id, name: name, arguments: arguments))
        }
        return parsed
    }
}

extension ChatConversation {
    /// The chat as the model sees it: with tools offered, their definitions and instructions in
    /// the system prompt; an assistant turn that called tools as the JSON it wrote (and, while
    /// tools are offered, one that answered as `{"response": …}`, as it was written); a `tool`
    /// turn as a user turn holding `{"tool_result": …}` (consecutive results in one turn);
    /// `developer` as `system`.
    func templateMessages(tools: ToolCalling?) -> [ChatMessage] {
        var rendered: [ChatMessage] = []
        var callNames: [String: String] = [:]
        var previousWasTool = false
        for message in messages {
            let content = message.content
            switch message.role {
            case .tool:
                let name = message.toolName ?? message.toolCallID.flatMap { callNames[$0] }
                let result = OrderedJSON.object([("tool_result", OrderedJSON.object(
                    (name.map { [("name", OrderedJSON.string($0))] } ?? [])
                        + [("content", Self.embedded(content))]))])
                if previousWasTool, let last = rendered.indices.last {
                    rendered[last].content += "\n" + result
                } else {
                    rendered.append(ChatMessage(role: "user", content: result))
                }
                previousWasTool = true
                continue
            case .assistant where !message.toolCalls.isEmpty:
                let calls = message.toolCalls
                for call in calls { if let id = call.id { callNames[id] = call.name } }
                let written = calls.count == 1
                    ? OrderedJSON.object([("tool_call", Self.written(calls[0]))])
                    : OrderedJSON.object([("tool_calls", OrderedJSON.array(calls.map(Self.written)))])
                rendered.append(ChatMessage(role: "assistant", content: content.isEmpty ? written : content + "\n" + written))
            case .assistant where tools != nil && !content.isEmpty:
                // What the model wrote when it answered under the same constraint.
                rendered.append(ChatMessage(role: "assistant", content: OrderedJSON.object([("response", OrderedJSON.string(content))])))
            case .developer:
                rendered.append(ChatMessage(role: "system", content: content))
            default:
                rendered.append(ChatMessage(role: message.role.rawValue, content: content))
            }
            previousWasTool = false
        }
        guard let tools else { return rendered }
        if let first = rendered.first, first.role == "system" {
            rendered[0].content = first.content.isEmpty ? tools.instructions : first.content + "\n\n" + tools.instructions
        } else {
            rendered.insert(ChatMessage(role: "system", content: tools.instructions), at: 0)
        }
        return rendered
    }

    /// The chat as OpenAI messages (JSON text), what llama.cpp's chat layer reads: an assistant's
    /// calls with their arguments as JSON text and its `reasoning_content`, a tool turn's
    /// `tool_call_id` and `name`. Keys in OpenAI's order, so the prompt does not depend on a
    /// dictionary's.
    var openAIMessagesJSON: String {
        OrderedJSON.array(messages.map { message in
            var fields = [("role", OrderedJSON.string(message.role.rawValue)), ("content", OrderedJSON.string(message.content))]
            if let reasoning = message.reasoning, !reasoning.isEmpty { fields.append(("reasoning_content", OrderedJSON.string(reasoning))) }
            if !message.toolCalls.isEmpty {
                fields.append(("tool_calls", OrderedJSON.array(message.toolCalls.map { call in
                    OrderedJSON.object((call.id.map { [("id", OrderedJSON.string($0))] } ?? []) + [
                        ("type", OrderedJSON.string("function")),
                        ("function", OrderedJSON.object([("name", OrderedJSON.string(call.name)),
                                                         ("arguments", OrderedJSON.string(call.arguments.jsonText))])),
                    ])
                })))
            }
            if let id = message.toolCallID { fields.append(("tool_call_id", OrderedJSON.string(id))) }
            if message.role == .tool, let name = message.toolName { fields.append(("name", OrderedJSON.string(name))) }
            return OrderedJSON.object(fields)
        })
    }

    private static func written(_ call: Call) -> String {
        OrderedJSON.object([("name", OrderedJSON.string(call.name)), ("arguments", call.arguments.jsonText)])
    }

    /// Tool output as JSON: itself when it is JSON, else a string.
    private static func embedded(_ content: String) -> String {
        if let value = try? JSONDecoder().decode(JSONValue.self, from: Data(content.utf8)) { return value.jsonText }
        return OrderedJSON.string(content)
    }
}
