import Foundation

/// One setting a command takes from a flag or the environment: its names, environment variables,
/// default, help and parser. The command-line option, the environment lookup and the help text all
/// come from it, so a new setting is one descriptor and its use.
public struct Setting<Value: Sendable>: Sendable {
    /// Command-line spellings, canonical first: `--ctx-size`, `-c` (one letter), `-np` (llama.cpp's
    /// single-dash long names).
    public let names: [String]
    /// Variables read when the flag is absent, in order: GEMMA_* first, then llama-server's.
    public let environment: [String]
    /// The value when neither flag nor variable is given; nil when there is none or it is computed.
    public let defaultValue: Value?
    /// What the setting does; the default and the variables are appended by `helpText`.
    public let summary: String
    /// The default in words, where `defaultValue` is nil or needs explaining.
    public let defaultNote: String?
    /// Reads a flag's or variable's text; the error's message starts with "must be".
    public let parse: @Sendable (String) throws(InputError) -> Value

    public init(_ names: [String], environment: [String] = [], default defaultValue: Value? = nil,
                defaultNote: String? = nil, summary: String, parse: @escaping @Sendable (String) throws(InputError) -> Value) {
        self.names = names
        self.environment = environment
        self.defaultValue = defaultValue
        self.defaultNote = defaultNote
        self.summary = summary
        self.parse = parse
    }

    /// The canonical spelling, named in errors: `--ctx-size`.
    public var flag: String { names.first ?? "" }

    /// `summary (default: 4096). [environment: GEMMA_CTX_SIZE, LLAMA_ARG_CTX_SIZE]`
    public var helpText: String {
        var text = summary
        // A switch's default (off) goes without saying.
        if let note = defaultNote ?? defaultValue.flatMap({ $0 is Bool ? nil : "\($0)" }) { text += " (default: \(note))" }
        if !environment.isEmpty { text += " [environment: \(environment.joined(separator: ", "))]" }
        return text
    }

    /// The flag's value if given, else the first variable set in `environment`, else the default.
    public func resolve(_ given: Value?, in environment: [String: String]) throws(InputError) -> Value? {
        if let given { return given }
        for name in self.environment {
            guard let text = Environment.value(name, in: environment) else { continue }
            do { return try parse(text) } catch {
                throw InputError("\(name) (for \(flag)) \(error.message)", recovery: error.recovery)
            }
        }
        return defaultValue
    }
}

extension Setting where Value == Int {
    public init(_ names: [String], environment: [String] = [], default defaultValue: Int? = nil,
                defaultNote: String? = nil, summary: String) {
        self.init(names, environment: environment, default: defaultValue, defaultNote: defaultNote, summary: summary) { text throws(InputError) in
            guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw InputError("must be a whole number, got '\(text)'")
            }
            return number
        }
    }
}

extension Setting where Value == String {
    public init(_ names: [String], environment: [String] = [], default defaultValue: String? = nil,
                defaultNote: String? = nil, summary: String) {
        self.init(names, environment: environment, default: defaultValue, defaultNote: defaultNote, summary: summary) { $0 }
    }
}

extension Setting where Value == Bool {
    /// A switch: `default` (off unless said) unless the flag is given or a variable says otherwise.
    /// A switch that defaults to on also takes `--no-NAME` (`Flag(inverting:)`).
    public init(switch names: [String], environment: [String] = [], default defaultValue: Bool = false, summary: String) {
        self.init(names, environment: environment, default: defaultValue,
                  defaultNote: defaultValue ? "on" : nil, summary: summary) { text throws(InputError) in
            switch text.lowercased() {
            case "1", "true", "yes", "on", "enabled": return true
            case "0", "false", "no", "off", "disabled": return false
            default: throw InputError("must be true or false, got '\(text)'")
            }
        }
    }

    /// A switch is on when given; otherwise the environment decides.
    public func resolve(_ given: Bool, in environment: [String: String]) throws(InputError) -> Bool {
        try resolve(given ? true : nil, in: environment) ?? false
    }
}

extension Setting where Value == Duration {
    public init(_ names: [String], environment: [String] = [], default defaultValue: Duration? = nil,
                defaultNote: String? = nil, summary: String) {
        self.init(names, environment: environment, default: defaultValue,
                  defaultNote: defaultNote ?? defaultValue.map(DurationText.format), summary: summary) { text throws(InputError) in
            try DurationText.parse(text)
        }
    }
}

extension Setting where Value == UInt64 {
    /// A byte size (`ByteSize`'s notation).
    public init(bytes names: [String], environment: [String] = [], default defaultValue: UInt64? = nil,
                defaultNote: String? = nil, summary: String) {
        self.init(names, environment: environment, default: defaultValue, defaultNote: defaultNote, summary: summary) { text throws(InputError) in
            try ByteSize.parse(text)
        }
    }
}
