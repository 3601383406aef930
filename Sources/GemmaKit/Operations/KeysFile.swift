import Crypto
import Foundation

/// API keys: generated from the system CSPRNG, URL-safe, with a recognizable prefix.
public enum APIKey {
    public static let defaultPrefix = "gk_"

    /// `prefix` + 256 random bits as unpadded base64url (43 characters).
    public static func generate(prefix: String = defaultPrefix) -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return prefix + base64url(bytes)
    }

    static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A short, non-reversible tag for a key, safe to print: `gk_…3f9a1c`.
    public static func fingerprint(_ key: String) -> String {
        let digest = SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
        let prefix = key.prefix { $0 != "_" }
        return (key.contains("_") ? "\(prefix)_" : "") + "…" + digest.prefix(8)
    }
}

/// A keys file for `gemmactl serve --api-key-file`: one key per line, blank lines and `#` comments ignored.
///
/// rotate-key records what it knows about each key in a `# gemmactl:` comment on the line above it
/// (`key=current added=…` or `key=old retired=… expires=…`); other lines are kept as they are. The server
/// only ever sees key lines, so every key in the file is valid until it is removed.
public struct KeysFile: Sendable, Equatable {
    public enum Role: String, Sendable { case current, old }

    public struct Key: Sendable, Equatable {
        public var value: String
        public var role: Role?
        public var added: Date?
        public var retired: Date?
        /// The end of the grace period (`--grace`), after which rotate-key removes the key.
        public var expires: Date?
    }

    enum Line: Sendable, Equatable {
        case text(String)
        case key(Key)
    }

    var lines: [Line]

    static let marker = "# gemmactl:"
    static let header = "# API keys for gemmactl serve (--api-key-file), one per line. Managed by gemmactl rotate-key."

    public var keys: [Key] { lines.compactMap { if case .key(let key) = $0 { key } else { nil } } }
    public var currentKey: Key? { keys.last { $0.role == .current } }
    public var oldKeys: [Key] { keys.filter { $0.role != .current } }

    /// The keys a server should accept at `date`: every key but old ones whose grace has passed.
    public func activeKeys(at date: Date = Date()) -> [String] {
        keys.filter { key in !(key.role == .old && (key.expires.map { $0 <= date } ?? false)) }.map(\.value)
    }

    public init(text: String) {
        var lines: [Line] = []
        var pending: [String: String]?
        for raw in Self.lines(text) {
            let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix(Self.marker) {
                pending = Self.attributes(trimmed.dropFirst(Self.marker.count))
                continue
            }
            if trimmed.isEmpty || trimmed.hasPrefix("#") {
                lines.append(.text(raw))
                continue
            }
            let attributes = pending ?? [:]
            pending = nil
            lines.append(.key(Key(value: trimmed, role: attributes["key"].flatMap(Role.init(rawValue:)),
                                  added: attributes["added"].flatMap(Self.date), retired: attributes["retired"].flatMap(Self.date),
                                  expires: attributes["expires"].flatMap(Self.date))))
        }
        // split leaves one empty string after a final newline: text() puts it back.
        if case .text("") = lines.last { lines.removeLast() }
        self.lines = lines
    }

    /// The file's content, ending in a newline.
    public var text: String {
        var out: [String] = []
        for line in lines {
            switch line {
            case .text(let text): out.append(text)
            case .key(let key):
                if let role = key.role {
                    var attributes = ["key=\(role.rawValue)"]
                    if let added = key.added { attributes.append("added=\(Self.format(added))") }
                    if let retired = key.retired { attributes.append("retired=\(Self.format(retired))") }
                    if let expires = key.expires { attributes.append("expires=\(Self.format(expires))") }
                    out.append("\(Self.marker) \(attributes.joined(separator: " "))")
                }
                out.append(key.value)
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// Adds `newKey` as the current key; every key already there becomes old and stays valid
    /// (until `grace` from `now`, when given). Old keys whose grace has already passed are dropped.
    public func adding(_ newKey: String, now: Date = Date(), grace: Duration? = nil) -> KeysFile {
        var copy = self
        copy.lines = lines.compactMap { line in
            guard case .key(var key) = line else { return line }
            if key.role == .old, let expires = key.expires, expires <= now { return nil }
            if key.role != .old {
                key.role = .old
                key.retired = now
                key.expires = grace.map { now.addingTimeInterval($0.timeInterval) }
            }
            return .key(key)
        }
        if copy.lines.isEmpty { copy.lines.append(.text(Self.header)) }
        copy.lines.append(.key(Key(value: newKey, role: .current, added: now)))
        return copy
    }

    /// Removes every key but the current one.
    public func finishing() throws(OpsError) -> KeysFile {
        guard currentKey != nil else {
            throw OpsError(.keysFileUnmanaged, "no key in the keys file is marked current by gemmactl",
                           recovery: "start a rotation first (gemmactl rotate-key --keys-file PATH), or edit the file by hand")
        }
        var copy = self
        copy.lines = lines.filter { if case .key(let key) = $0 { key.role == .current } else { true } }
        return copy
    }

    /// Lines split on the newline byte ("\r\n" is one Character in Swift, so String.split would miss it).
    public static func lines(_ text: String) -> [String] {
        text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The one key a client sends, or `render` puts in a Secret: the first key line of the file at
    /// `path` (blank and `#` lines skipped). `flag` names the option the path came from.
    public static func firstKey(path: String, flag: String) throws(OpsError) -> String {
        let text = String(decoding: try AtomicFile.read(path, what: "API key file"), as: UTF8.self)
        guard let key = keyLines(text).first else {
            throw OpsError(.noKey, "\(flag) \(path) holds no key (only blank or # lines)",
                           recovery: "put the key on a line of its own, e.g. openssl rand -hex 32 > \(path)")
        }
        return key
    }

    /// The keys a server reads from a keys file's text: every non-blank line not starting with `#`, trimmed.
    public static func keyLines(_ text: String) -> [String] {
        lines(text).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    static func attributes(_ text: Substring) -> [String: String] {
        var result: [String: String] = [:]
        for part in text.split(separator: " ") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { result[String(pair[0])] = String(pair[1]) }
        }
        return result
    }

    static func date(_ text: String) -> Date? { try? Date(text, strategy: .iso8601) }
    static func format(_ date: Date) -> String { date.formatted(.iso8601) }
}

/// Rewrites the API key variable in a terraform.tfvars file, leaving every other byte as it was.
public enum TfvarsFile {
    public static let defaultVariable = "gemma_api_key"

    /// The variable holding the key a rotation replaced (`gemma_api_key_previous`): Terraform stores it in
    /// the vault beside the current key, and the ExternalSecret's `secret.previousRemoteKey` syncs it into
    /// the Secret's `api-key-previous`, which the sidecar and serve accept while clients move.
    public static func previousVariable(of variable: String) -> String { variable + "_previous" }

    /// `text` with the quoted value of `variable = "…"` replaced by `key`.
    public static func replacing(variable: String = defaultVariable, with key: String, in text: String, path: String) throws(OpsError) -> String {
        var lines = split(text)
        let value = try quotedValue(of: variable, in: lines, path: path)
        lines[value.line] = String(lines[value.line][..<value.range.lowerBound]) + key + String(lines[value.line][value.range.upperBound...])
        return lines.joined(separator: "\n")
    }

    /// `text` after a rotation: `variable` holds `key`, and its previous variable the key it held before
    /// (a line added after `variable`'s, with its indentation, when the file has none). `previous` is that
    /// old key, nil when the variable was empty (then the previous variable is left as it was).
    public static func rotating(variable: String = defaultVariable, to key: String, in text: String,
                                path: String) throws(OpsError) -> (text: String, previous: String?) {
        let lines = split(text)
        let current = try quotedValue(of: variable, in: lines, path: path)
        let old = String(lines[current.line][current.range])
        let rotated = try replacing(variable: variable, with: key, in: text, path: path)
        guard !old.isEmpty else { return (rotated, nil) }
        let previous = previousVariable(of: variable)
        if lines.contains(where: { assigns(previous, $0) }) {
            return (try replacing(variable: previous, with: old, in: rotated, path: path), old)
        }
        var rotatedLines = split(rotated)
        let indentation = lines[current.line].prefix { $0 == " " || $0 == "\t" }
        let ending = lines[current.line].hasSuffix("\r") ? "\r" : ""
        rotatedLines.insert("\(indentation)\(previous) = \"\(old)\"\(ending)", at: current.line + 1)
        return (rotatedLines.joined(separator: "\n"), old)
    }

    /// `text` with the previous variable emptied, ending a rotation; `removed` is the key it held (nil:
    /// nothing to finish, and `text` is returned as it was).
    public static func finishing(variable: String = defaultVariable, in text: String,
                                 path: String) throws(OpsError) -> (text: String, removed: String?) {
        let previous = previousVariable(of: variable)
        let lines = split(text)
        guard lines.contains(where: { assigns(previous, $0) }) else { return (text, nil) }
        let value = try quotedValue(of: previous, in: lines, path: path)
        let old = String(lines[value.line][value.range])
        guard !old.isEmpty else { return (text, nil) }
        return (try replacing(variable: previous, with: "", in: text, path: path), old)
    }

    /// The lines of `text`, split on the byte rather than the Character: "\r\n" is one Character and
    /// must keep its "\r".
    private static func split(_ text: String) -> [String] {
        text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Where the quoted value of the one `variable = "…"` line is: its line and the range between the quotes.
    private static func quotedValue(of variable: String, in lines: [String], path: String) throws(OpsError) -> (line: Int, range: Range<String.Index>) {
        let matches = lines.indices.filter { assigns(variable, lines[$0]) }
        guard let index = matches.first else {
            throw OpsError(.variableMissing, "\(path) has no `\(variable) = \"…\"` line",
                           recovery: "add `\(variable) = \"\"` to \(path) (the variable your Terraform passes to OCI Vault), or name another with --tfvars-variable")
        }
        guard matches.count == 1 else {
            throw OpsError(.variableDuplicated, "\(path) sets \(variable) on \(matches.count) lines (\(matches.map { String($0 + 1) }.joined(separator: ", ")))",
                           recovery: "keep one assignment; Terraform rejects duplicates too")
        }
        let line = lines[index]
        guard let equals = line.firstIndex(of: "="), let open = line[equals...].firstIndex(of: "\""),
              let close = line[line.index(after: open)...].firstIndex(of: "\"") else {
            throw OpsError(.variableMissing, "\(path) line \(index + 1) sets \(variable) to something other than a quoted string",
                           recovery: "write it as \(variable) = \"…\" so rotate-key can replace the value")
        }
        return (index, line.index(after: open)..<close)
    }

    static func assigns(_ variable: String, _ line: String) -> Bool {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        guard trimmed.hasPrefix(variable) else { return false }
        let rest = trimmed.dropFirst(variable.count).drop { $0 == " " || $0 == "\t" }
        return rest.hasPrefix("=")
    }

    public static let nextSteps = """
        Next steps:
          1. terraform apply          (stores the new key, and the old one as the previous key, in OCI Vault)
          2. argocd app sync managed-secrets   (or press Sync on managed-secrets in the ArgoCD UI: the ExternalSecret refreshes the Secret)
          3. restart or wait for the pods to pick up the Secret, then move clients to the new key
        """
}

/// A Kubernetes Secret carrying the API key, and during a rotation the key before it
/// (`<dataKey>-previous`, accepted too by the rendered sidecar and serve).
public enum KeySecretManifest {
    public static func render(name: String, namespace: String?, dataKey: String, key: String, previousKey: String? = nil) -> String {
        var lines = ["apiVersion: v1", "kind: Secret", "metadata:", "  name: \(name)"]
        if let namespace { lines.append("  namespace: \(namespace)") }
        lines += ["  labels:", "    app.kubernetes.io/managed-by: gemmactl", "type: Opaque", "stringData:", "  \(dataKey): \"\(key)\""]
        if let previousKey { lines.append("  \(dataKey)-previous: \"\(previousKey)\"") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Whether `name` is a valid Kubernetes object name (DNS-1123 subdomain).
    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 253, let first = name.first, let last = name.last,
              first.isLetter || first.isNumber, last.isLetter || last.isNumber else { return false }
        return name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "." }
    }
}
