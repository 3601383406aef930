import Foundation

/// A value on the command line or in the environment that could not be read.
public struct InputError: ActionableError {
    public let message: String
    public let recovery: String?
    public init(_ message: String, recovery: String? = nil) {
        self.message = message
        self.recovery = recovery
    }
}

/// Parses durations such as `500ms`, `30s`, `2m`, `1h`, `1m30s`, or a plain number of seconds.
public enum DurationText {
    public static func parse(_ text: String, field: String) throws(InputError) -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let seconds = Double(trimmed), seconds.isFinite, seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        var total: Duration = .zero
        var number = ""
        var index = trimmed.startIndex
        var sawUnit = false
        while index < trimmed.endIndex {
            let character = trimmed[index]
            if character.isNumber || character == "." {
                number.append(character)
                index = trimmed.index(after: index)
                continue
            }
            var unit = ""
            while index < trimmed.endIndex, trimmed[index].isLetter {
                unit.append(trimmed[index])
                index = trimmed.index(after: index)
            }
            guard let value = Double(number), value.isFinite, value >= 0 else { throw invalid(text, field) }
            switch unit {
            case "ms": total += .milliseconds(Int64(value))
            case "s": total += .milliseconds(Int64(value * 1000))
            case "m": total += .milliseconds(Int64(value * 60_000))
            case "h": total += .milliseconds(Int64(value * 3_600_000))
            default: throw invalid(text, field)
            }
            number = ""
            sawUnit = true
        }
        guard sawUnit, number.isEmpty else { throw invalid(text, field) }
        return total
    }

    private static func invalid(_ text: String, _ field: String) -> InputError {
        InputError("\(field) must be a duration such as 500ms, 30s, 2m or 1h, got '\(text)'")
    }
}

/// Parses byte sizes such as `8388608`, `512k`, `8MiB`, `1G`.
public enum ByteSizeText {
    public static func parse(_ text: String, field: String) throws(InputError) -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        let unit = trimmed.dropFirst(digits.count).lowercased()
        guard let value = Int(digits) else {
            throw InputError("\(field) must be a size such as 8388608, 512KiB or 8MiB, got '\(text)'")
        }
        let multiplier: Int
        switch unit {
        case "", "b": multiplier = 1
        case "k", "kb", "kib": multiplier = 1 << 10
        case "m", "mb", "mib": multiplier = 1 << 20
        case "g", "gb", "gib": multiplier = 1 << 30
        default: throw InputError("\(field) has an unknown unit '\(unit)' in '\(text)'; use KiB, MiB or GiB")
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw InputError("\(field) is too large: '\(text)'") }
        return product
    }
}
