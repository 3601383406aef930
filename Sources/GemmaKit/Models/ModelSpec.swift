import Foundation

/// A model as `-m` names it where a server may hold several: `[ALIAS=]REF`, e.g.
/// `chat=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M`; REF is a path, `ORG/REPO[:QUANT]` or `ollama://NAME:TAG`.
public struct ModelSpec: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The name requests pick the model by; nil: the server's own name for it.
    public var alias: String?
    /// The model as given after the alias.
    public var reference: String

    public init(alias: String? = nil, reference: String) {
        self.alias = alias
        self.reference = reference
    }

    /// Parses `[ALIAS=]REF`. The text before the first `=` is an alias when it has no `/` (a path such as
    /// `./a=b.gguf` stays a path); an alias is letters, digits and `-_.:`, starting with a letter or digit.
    public static func parse(_ text: String) throws(InputError) -> ModelSpec {
        let example = "e.g. chat=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"
        guard let equals = text.firstIndex(of: "="), !text[..<equals].contains("/") else {
            guard !text.isEmpty else { throw InputError("the model is empty", recovery: "write [ALIAS=]REF, \(example)") }
            return ModelSpec(reference: text)
        }
        let alias = String(text[..<equals])
        let reference = String(text[text.index(after: equals)...])
        guard alias.wholeMatch(of: /[A-Za-z0-9][-A-Za-z0-9_.:]*/) != nil else {
            throw InputError("'\(text)': the alias '\(alias)' must be letters, digits, '-', '_', '.' or ':', starting with a letter or digit",
                              recovery: "write [ALIAS=]REF, \(example)")
        }
        guard !reference.isEmpty else {
            throw InputError("'\(text)' names no model after '\(alias)='", recovery: "write [ALIAS=]REF, \(example)")
        }
        return ModelSpec(alias: alias, reference: reference)
    }

    /// The name a listing shows: the alias, else the reference.
    public var name: String { alias ?? reference }

    public var description: String { alias.map { "\($0)=\(reference)" } ?? reference }
}
