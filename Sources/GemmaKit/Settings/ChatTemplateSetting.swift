import Foundation

extension ChatTemplateOptions {
    /// The options for these flag values, checked: a `--chat-template` that is not a built-in
    /// name, and a `--chat-template-file` that cannot be read or is not a template this mode can
    /// render, are errors naming the flag (the file also by path).
    public static func resolve(name: String?, file: String?, jinja: Bool) throws(InputError) -> ChatTemplateOptions {
        let nameFlag = ServeSettings.chatTemplate.flag, fileFlag = ServeSettings.chatTemplateFile.flag
        if name != nil, file != nil {
            throw InputError("\(nameFlag) and \(fileFlag) cannot both be given", recovery: "keep one of them")
        }
        if let name {
            guard builtInNames.contains(name) else {
                throw InputError("\(nameFlag) '\(name.prefix(60))' is not one of llama.cpp's built-in template names",
                                 recovery: "use one of: \(builtInNames.joined(separator: ", ")); "
                                    + "to use a Jinja template of your own, save it to a file and pass \(fileFlag) PATH")
            }
            return ChatTemplateOptions(source: .builtIn(name), jinja: jinja)
        }
        guard let file else { return ChatTemplateOptions(jinja: jinja) }
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw InputError("\(fileFlag) \(file) cannot be read: \((error as NSError).localizedDescription)",
                             recovery: "give the path of a readable UTF-8 Jinja template, e.g. one of llama.cpp's models/templates/*.jinja")
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw InputError("\(fileFlag) \(file) is empty", recovery: "give a Jinja chat template file")
        }
        if jinja {
            do {
                let template = try JinjaChatTemplate(model: nil, source: text)
                _ = try template.render([ChatMessage(role: "user", content: "test")], addGenerationPrompt: true, kwargsJSON: nil)
            } catch {
                throw InputError("\(fileFlag) \(file) is not a template llama.cpp's Jinja engine can render: \(error.message)",
                                 recovery: "fix the template, or try it with `curl /apply-template` against llama-server")
            }
        } else if ChatFormatter.applyBuiltIn(template: text, [ChatMessage(role: "user", content: "test")], addGenerationPrompt: true) == nil {
            throw InputError("\(fileFlag) \(file) is not a template llama.cpp recognises without Jinja (--no-jinja)",
                             recovery: "drop --no-jinja to render it with the Jinja engine, or use \(nameFlag) NAME")
        }
        return ChatTemplateOptions(source: .file(path: file, text: text), jinja: jinja)
    }
}
