import ArgumentParser
import GemmaKit

extension SettingDescription {
    /// The descriptor's spellings as ArgumentParser names: `--x` long, `-x` short, `-xy` single-dash long.
    var nameSpecification: NameSpecification {
        NameSpecification(names.map { name -> NameSpecification.Element in
            if name.hasPrefix("--") { return .customLong(String(name.dropFirst(2))) }
            let bare = String(name.dropFirst())
            return bare.count == 1 ? .customShort(bare.first!) : .customLong(bare, withSingleDash: true)
        })
    }
}

extension Option {
    /// An option whose names, help and parser come from `setting`; nil when not given, so that
    /// `Setting.resolve` can fall back to the environment and the default.
    init<T: Sendable>(_ setting: Setting<T>) where Value == T? {
        // The next word is the value even when it starts with "-" (`--cache-ram -1`, `--seed -1`),
        // as llama-server reads its arguments.
        self.init(name: setting.nameSpecification, parsing: .unconditional,
                  help: ArgumentHelp(setting.helpText), transform: { text in try setting.parse(text) })
    }

    /// A repeatable option (`-m A -m B`): every value given, in order; empty when none.
    init<T: Sendable>(repeating setting: Setting<T>) where Value == [T] {
        self.init(wrappedValue: [], name: setting.nameSpecification, parsing: .unconditionalSingleValue,
                  help: ArgumentHelp(setting.helpText), transform: { text in try setting.parse(text) })
    }

    /// An option for a setting with a default; nil when not given (the default comes from `resolve`).
    init<T: Sendable>(_ setting: Setting<T>.Defaulted) where Value == T? {
        self.init(setting.setting)
    }
}

extension Flag where Value == Bool {
    /// A switch whose names and help come from `setting`.
    init(_ setting: Setting<Bool>) {
        self.init(wrappedValue: false, name: setting.nameSpecification, help: ArgumentHelp(setting.helpText))
    }
}

extension Flag where Value == Bool? {
    /// A default-on switch with its `--no-` spelling (`--jinja` / `--no-jinja`); nil when neither
    /// is given, so that the environment and the default decide.
    init(inverting setting: Setting<Bool>.Defaulted) {
        self.init(name: setting.nameSpecification, inversion: .prefixedNo, help: ArgumentHelp(setting.helpText))
    }
}

/// Value parsers for options outside the serve settings: each type parsed once, by its one parser.
enum ArgumentValue {
    static let duration: @Sendable (String) throws -> Duration = { try DurationText.parse($0) }
    static let byteSize: @Sendable (String) throws -> UInt64 = { try ByteSize.parse($0) }
}
