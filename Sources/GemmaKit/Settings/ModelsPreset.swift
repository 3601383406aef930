import Foundation

/// llama-server's `--models-preset` file: an INI file whose sections are models and whose keys are
/// `serve`'s settings, so one file configures several models the way llama-server's router reads it.
///
/// ```ini
/// version = 1
/// [*]                      ; every model
/// c = 8192
/// [ggml-org/gemma-3-1b-it-GGUF:Q4_K_M]
/// load-on-startup = true
/// [custom]
/// model = /models/custom.gguf
/// jinja = false
/// ```
///
/// A key is a flag without its dashes (`ctx-size`, `c`, `no-jinja`) or one of its variables
/// (`LLAMA_ARG_CTX_SIZE`); each value is checked by the setting's own parser when the file is read.
/// A section's settings are returned as the variables its settings read (`environment(for:over:)`),
/// so a model resolves them with the same descriptors as the command line: flags over the model's
/// section over `[*]` over the process environment, llama-server's precedence.
public struct ModelsPreset: Sendable, Equatable {
    /// One section: a model, named as a request's `model` names it.
    public struct Entry: Sendable, Equatable {
        public let name: String
        /// Setting variable → value text, already checked.
        public let settings: [String: String]
        /// Load the model when the server starts (`load-on-startup`), not on its first request.
        public let loadOnStartup: Bool
    }

    /// `[*]`: what every entry starts from.
    public let global: [String: String]
    public let entries: [Entry]
    /// Keys read but left to the server as a whole (a model cannot have its own `port`), as
    /// llama-server's router overrides them; one line each, for the log.
    public let ignored: [String]

    /// The file's sections in order, checked; an error names the file, the line and the key.
    public static func load(path: String) throws(InputError) -> ModelsPreset {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw InputError("--models-preset \(path) cannot be read: \((error as NSError).localizedDescription)",
                             recovery: "give the path of a readable INI file of model presets (see docs/server.md)")
        }
        return try parse(text, file: path)
    }

    /// Reads a preset file's text; `file` names it in errors.
    public static func parse(_ text: String, file: String) throws(InputError) -> ModelsPreset {
        var global: [String: String] = [:]
        var sections: [(name: String, line: Int, settings: [String: String], loadOnStartup: Bool?)] = []
        var ignored: [String] = []
        var loadAllOnStartup: Bool?
        var section: String?  // nil before the first header, "*" in [*]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces.union(.init(charactersIn: "\r")))
            let place = "\(file):\(index + 1)"
            if line.isEmpty || line.hasPrefix(";") || line.hasPrefix("#") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw InputError("\(place): '\(line.prefix(80))' is not a section header", recovery: "write [MODEL-NAME] or [*]")
                }
                let name = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty else { throw InputError("\(place): a section needs a name", recovery: "write [MODEL-NAME] or [*]") }
                if name != "*" {
                    if let earlier = sections.first(where: { $0.name == name }) {
                        throw InputError("\(place): section [\(name)] is already at line \(earlier.line)", recovery: "merge the two sections")
                    }
                    sections.append((name, index + 1, [:], nil))
                }
                section = name
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw InputError("\(place): '\(line.prefix(80))' is not KEY = VALUE", recovery: "write a setting as e.g. ctx-size = 4096")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            // As llama.cpp's INI reader: a value ends at a comment (`;` or `#`), quotes are kept.
            let value = line[line.index(after: equals)...].prefix { $0 != ";" && $0 != "#" }.trimmingCharacters(in: .whitespaces)
            guard let section else {
                guard key == "version" else {
                    throw InputError("\(place): '\(key)' comes before any section", recovery: "put it under [*] for every model, or under a model's [NAME]")
                }
                guard value == "1" else { throw InputError("\(place): version \(value) is not supported", recovery: "write version = 1") }
                continue
            }
            if key == "load-on-startup" {
                let load = try boolean(value, key: key, place: place)
                if section == "*" { loadAllOnStartup = load } else { sections[sections.count - 1].loadOnStartup = load }
                continue
            }
            if key == "stop-timeout" || key == "dedup-cache-models" {
                // llama-server's child-process and cache-listing options: gemmactl unloads in process
                // and lists a cached file once, so there is nothing for them to change.
                ignored.append("\(place): \(key) has no effect in gemmactl (models are unloaded in process)")
                continue
            }
            let (setting, negated) = try lookUp(key, place: place)
            if serverWide.contains(setting.flag) {
                ignored.append("\(place): \(key) is a setting of the whole server; set it on the command line")
                continue
            }
            var text = value
            if negated { text = try boolean(value, key: key, place: place) ? "false" : "true" }
            do {
                try setting.check(text)
            } catch {
                throw InputError("\(place): \(key) \(error.message)", recovery: error.recovery)
            }
            // The descriptor's first variable carries the value; later ones are the same setting's aliases.
            let variable = setting.environment[0]
            if section == "*" { global[variable] = text } else { sections[sections.count - 1].settings[variable] = text }
        }
        return ModelsPreset(
            global: global,
            entries: sections.map { Entry(name: $0.name, settings: $0.settings, loadOnStartup: $0.loadOnStartup ?? loadAllOnStartup ?? false) },
            ignored: ignored)
    }

    /// The entry named `name`, if the file has one.
    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// The environment a model's settings resolve in: `base` (the process's), then `[*]`, then the
    /// model's own section on top.
    public func environment(for name: String, over base: [String: String]) -> [String: String] {
        var result = base.merging(global) { _, preset in preset }
        if let entry = entry(named: name) { result.merge(entry.settings) { _, preset in preset } }
        return result
    }

    /// Settings of the listener, auth and limits: one per server, not per model.
    static let serverWide: Set<String> = Set([
        ServeSettings.host.flag, ServeSettings.port.flag, ServeSettings.apiKeyFile.flag, ServeSettings.noAuth.flag,
        ServeSettings.corsOrigins.flag, ServeSettings.maxBodySize.flag, ServeSettings.requestTimeout.flag,
        ServeSettings.shutdownGrace.flag, ServeSettings.ssePingInterval.flag, ServeSettings.metricsPort.flag,
        ServeSettings.offline.flag, ServeSettings.logPrompts.flag, ServeSettings.slots.flag, ServeSettings.metrics.flag,
        ServeSettings.props.flag, ServeSettings.verbose.flag, ServeSettings.alias.flag, ServeSettings.tags.flag,
        ServeSettings.modelsDir.flag, ServeSettings.modelsPreset.flag, ServeSettings.modelsMax.flag,
        ServeSettings.memoryBudget.flag, ServeSettings.noModelsAutoload.flag, ServeSettings.sleepIdleSeconds.flag,
        ServeSettings.allowModelManagement.flag,
    ])

    /// The setting a key names: a flag without dashes (long or short), `no-FLAG` for a switch, or a
    /// variable. Returns whether the key negates the switch.
    private static func lookUp(_ key: String, place: String) throws(InputError) -> (any SettingDescription, negated: Bool) {
        func find(_ name: String) -> (any SettingDescription)? {
            ServeSettings.all.first { setting in
                setting.names.contains { $0.drop { $0 == "-" } == name } || setting.environment.contains(name)
            }
        }
        if let setting = find(key), !setting.environment.isEmpty { return (setting, false) }
        if key.hasPrefix("no-"), let setting = find(String(key.dropFirst(3))), setting.isSwitch, !setting.environment.isEmpty {
            return (setting, true)
        }
        throw InputError("\(place): '\(key)' is not a setting of gemmactl serve",
                         recovery: "use a serve flag without its dashes (e.g. ctx-size, c, jinja) or its variable (e.g. LLAMA_ARG_CTX_SIZE); `gemmactl serve --help` lists them")
    }

    private static func boolean(_ text: String, key: String, place: String) throws(InputError) -> Bool {
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw InputError("\(place): \(key) must be true or false, got '\(text.prefix(40))'")
        }
    }
}
