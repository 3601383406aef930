import Foundation

/// Durations as people write them on a command line or in an environment variable: one or more
/// numbers each with a unit, `500ms`, `30s`, `2m`, `1h30m`, `1.5h`, `0s`.
///
/// The one rule for every duration gemmactl reads: a unit is required (is `30` seconds or
/// minutes?), zero is a duration (`--request-timeout 0s` means none), negative ones and ones over
/// a year are refused.
public enum DurationText {
    /// - Parameter field: the option or variable the text came from, named in the error.
    public static func parse(_ text: String, field: String? = nil) throws(InputError) -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let invalid = InputError("\(field.map { "\($0) " } ?? "")must be a duration such as 500ms, 30s, 2m or 1h30m, got '\(text)'",
                                 recovery: "write numbers each followed by a unit: ms, s, m or h")
        guard !trimmed.isEmpty else { throw invalid }
        var total: Double = 0
        var rest = Substring(trimmed)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number), value.isFinite else { throw invalid }
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
        guard total < 366 * 86400 else { throw invalid }
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
