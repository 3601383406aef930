import Foundation

/// What the command line needs of a setting descriptor: its spellings, variables and help.
/// `Setting` and `Setting.Defaulted` both describe themselves this way, so a test can check every
/// descriptor of a command is an option of it (`ServeSettings.all`).
public protocol SettingDescription: Sendable {
    /// Command-line spellings, canonical first.
    var names: [String] { get }
    /// Variables read when the flag is absent, in order.
    var environment: [String] { get }
    /// The summary with the default and the variables: the option's help.
    var helpText: String { get }
    /// Checks a value's text as the flag or a variable would be checked (a preset file's value).
    func check(_ text: String) throws(InputError)
    /// Whether the setting is on or off (a flag without a value).
    var isSwitch: Bool { get }
}

extension SettingDescription {
    /// The canonical spelling, named in errors: `--ctx-size`.
    public var flag: String { names.first ?? "" }
}

/// One setting a command takes from a flag or the environment: its names, environment variables,
/// help, parser and allowed values. The command-line option, the environment lookup and the help
/// text all come from it, so a new setting is one descriptor and its use, and its value is checked
/// in one place (the parser) whichever way it arrives. A setting with a default is
/// `setting.defaulting(to:)`, whose `resolve` always has a value.
public struct Setting<Value: Sendable>: SettingDescription {
    /// Command-line spellings, canonical first: `--ctx-size`, `-c` (one letter), `-np` (llama.cpp's
    /// single-dash long names).
    public let names: [String]
    /// Variables read when the flag is absent, in order: GEMMA_* first, then llama-server's.
    public let environment: [String]
    /// What the setting does; the default and the variables are appended by `helpText`.
    public let summary: String
    /// The default in words, for the help.
    public let defaultNote: String?
    /// Reads a flag's or variable's text and checks it; the error's message starts with "must be".
    public let parse: @Sendable (String) throws(InputError) -> Value
    /// How a default value reads in the help.
    let describe: @Sendable (Value) -> String

    public init(_ names: [String], environment: [String] = [], defaultNote: String? = nil, summary: String,
                describe: @escaping @Sendable (Value) -> String = { "\($0)" },
                parse: @escaping @Sendable (String) throws(InputError) -> Value) {
        self.names = names
        self.environment = environment
        self.defaultNote = defaultNote
        self.summary = summary
        self.describe = describe
        self.parse = parse
    }

    public func check(_ text: String) throws(InputError) { _ = try parse(text) }

    public var isSwitch: Bool { Value.self == Bool.self }

    /// `summary (default: 4096). [environment: GEMMA_CTX_SIZE, LLAMA_ARG_CTX_SIZE]`
    public var helpText: String {
        var text = summary
        if let defaultNote { text += " (default: \(defaultNote))" }
        if !environment.isEmpty { text += " [environment: \(environment.joined(separator: ", "))]" }
        return text
    }

    /// The flag's value if given, else the first variable set in `environment`; nil when neither is.
    /// A variable's bad text is an error naming the variable and the flag.
    public func resolve(_ given: Value?, in environment: [String: String]) throws(InputError) -> Value? {
        if let given { return given }
        for name in self.environment {
            guard let text = Environment.value(name, in: environment) else { continue }
            do { return try parse(text) } catch {
                throw InputError("\(name) (for \(flag)) \(error.message)", recovery: error.recovery)
            }
        }
        return nil
    }

    /// This setting with a default: what it resolves to when neither the flag nor a variable is given.
    public func defaulting(to value: Value) -> Defaulted {
        Defaulted(setting: Setting(names, environment: environment, defaultNote: defaultNote ?? describe(value),
                                   summary: summary, describe: describe, parse: parse),
                  defaultValue: value)
    }

    /// A setting with a default value: `resolve` always has one.
    public struct Defaulted: SettingDescription {
        public let setting: Setting
        public let defaultValue: Value

        public var names: [String] { setting.names }
        public var environment: [String] { setting.environment }
        public var helpText: String { setting.helpText }
        public var parse: @Sendable (String) throws(InputError) -> Value { setting.parse }
        public func check(_ text: String) throws(InputError) { try setting.check(text) }
        public var isSwitch: Bool { setting.isSwitch }

        /// The flag's value if given, else the first variable set, else the default.
        public func resolve(_ given: Value?, in environment: [String: String]) throws(InputError) -> Value {
            try setting.resolve(given, in: environment) ?? defaultValue
        }
    }
}

extension Setting where Value == Int {
    /// A whole number within `range` (the one place its bounds are written).
    public init(_ names: [String], environment: [String] = [], defaultNote: String? = nil, summary: String,
                range: ClosedRange<Int> = Int.min...Int.max) {
        self.init(names, environment: environment, defaultNote: defaultNote, summary: summary) { text throws(InputError) in
            guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw InputError("must be a whole number, got '\(text)'")
            }
            guard range.contains(number) else { throw InputError("must be \(Setting<Int>.words(range)), got \(number)") }
            return number
        }
    }

    /// `at least 1`, `between 1 and 256`.
    static func words(_ range: ClosedRange<Int>) -> String {
        range.upperBound == Int.max ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
    }
}

extension Setting where Value == Double {
    public init(_ names: [String], environment: [String] = [], defaultNote: String? = nil, summary: String) {
        self.init(names, environment: environment, defaultNote: defaultNote, summary: summary) { text throws(InputError) in
            guard let number = Double(text.trimmingCharacters(in: .whitespaces)), number.isFinite else {
                throw InputError("must be a number, got '\(text)'")
            }
            return number
        }
    }
}

extension Setting where Value == String {
    public init(_ names: [String], environment: [String] = [], defaultNote: String? = nil, summary: String) {
        self.init(names, environment: environment, defaultNote: defaultNote, summary: summary) { $0 }
    }
}

extension Setting where Value == Bool {
    /// A switch: off unless the flag is given or a variable says otherwise. A switch that defaults
    /// to on is `.defaulting(to: true)` and also takes `--no-NAME` (`Flag(inverting:)`).
    public init(switch names: [String], environment: [String] = [], summary: String) {
        self.init(names, environment: environment, summary: summary, describe: { $0 ? "on" : "off" }) { text throws(InputError) in
            switch text.lowercased() {
            case "1", "true", "yes", "on", "enabled": return true
            case "0", "false", "no", "off", "disabled": return false
            default: throw InputError("must be true or false, got '\(text)'")
            }
        }
    }

    /// A switch is on when given; otherwise the environment decides, and it is off without either.
    public func resolve(_ given: Bool, in environment: [String: String]) throws(InputError) -> Bool {
        try resolve(given ? true : nil, in: environment) ?? false
    }
}

extension Setting where Value == Duration {
    /// A duration (`DurationText`'s notation) of at least `minimum`.
    public init(_ names: [String], environment: [String] = [], defaultNote: String? = nil, summary: String,
                minimum: Duration = .zero) {
        self.init(names, environment: environment, defaultNote: defaultNote, summary: summary,
                  describe: DurationText.format) { text throws(InputError) in
            let duration = try DurationText.parse(text)
            guard duration >= minimum else {
                throw InputError("must be at least \(DurationText.format(minimum)), got '\(text)'")
            }
            return duration
        }
    }
}

extension Setting where Value == UInt64 {
    /// A byte size (`ByteSize`'s notation) of at least `minimum` bytes.
    public init(bytes names: [String], environment: [String] = [], defaultNote: String? = nil, summary: String,
                minimum: UInt64 = 0) {
        self.init(names, environment: environment, defaultNote: defaultNote, summary: summary) { text throws(InputError) in
            let bytes = try ByteSize.parse(text)
            guard bytes >= minimum else { throw InputError("must be at least \(minimum) bytes, got '\(text)'") }
            return bytes
        }
    }
}
