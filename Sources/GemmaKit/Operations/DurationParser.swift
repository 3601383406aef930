import Foundation

/// Parses durations written as people write them on a command line: `120s`, `2m`, `1m30s`, `500ms`, `1h`.
public enum DurationParser {
    /// - Parameter field: the option the text came from, named in the error.
    public static func parse(_ text: String, field: String) throws(OpsError) -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let invalid = OpsError(.invalidDuration, "\(field) must be a duration such as 500ms, 30s, 2m or 1h30m, got '\(text)'",
                               recovery: "write a number followed by a unit: ms, s, m or h")
        guard !trimmed.isEmpty else { throw invalid }
        var total: Double = 0
        var rest = Substring(trimmed)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { throw invalid }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": total += value / 1000
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            default: throw invalid
            }
        }
        guard total > 0, total < 366 * 86400 else { throw invalid }
        return .milliseconds(Int64((total * 1000).rounded()))
    }

    /// `1.5s`, `2m`, `1h05m`: short text for a duration.
    public static func format(_ duration: Duration) -> String {
        let ms = duration.wholeMilliseconds
        if ms < 1000 { return "\(ms)ms" }
        if ms < 60_000 {
            let seconds = Double(ms) / 1000
            return seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.1fs", seconds)
        }
        let seconds = ms / 1000
        if seconds < 3600 { return seconds % 60 == 0 ? "\(seconds / 60)m" : "\(seconds / 60)m\(seconds % 60)s" }
        return "\(seconds / 3600)h\(String(format: "%02d", (seconds % 3600) / 60))m"
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    var timeInterval: TimeInterval { Double(milliseconds) / 1000 }
}

/// Parses byte sizes in Kubernetes' quantity notation: `4Gi`, `512Mi`, `4G`, `1500M`, `1073741824`.
public enum ByteQuantity {
    public static func parse(_ text: String, field: String) throws(OpsError) -> UInt64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        let suffix = trimmed.dropFirst(number.count)
        let multipliers: [String: Double] = [
            "": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 1024, "Mi": 1_048_576, "Gi": 1_073_741_824, "Ti": 1_099_511_627_776,
        ]
        guard let value = Double(number), value > 0, let multiplier = multipliers[String(suffix)] else {
            throw OpsError(.invalidQuantity, "\(field) must be a size such as 4Gi, 512Mi or 4G, got '\(text)'",
                           recovery: "use Kubernetes' notation: a number followed by Ki, Mi, Gi (powers of 1024) or k, M, G (powers of 1000)")
        }
        return UInt64(value * multiplier)
    }

    /// `4.0 GiB`, `512 MiB`.
    public static func format(_ bytes: UInt64) -> String {
        let gib = Double(bytes) / 1_073_741_824
        if gib >= 1 { return String(format: "%.1f GiB", gib) }
        return String(format: "%.0f MiB", Double(bytes) / 1_048_576)
    }
}
