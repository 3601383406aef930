import Foundation

/// Byte sizes in Kubernetes' quantity notation, the one rule for every size gemmactl reads:
/// `4Gi`, `512Mi`, `64Ki` (powers of 1024; `GiB`, `MiB`, `KiB` too), `4G`, `1500M`, `8k` (powers
/// of 1000), or a plain number of bytes. `GB`/`MB` are refused: they mean either.
public enum ByteSize {
    /// - Parameter field: the option or variable the text came from, named in the error.
    public static func parse(_ text: String, field: String? = nil) throws(InputError) -> UInt64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        var suffix = String(trimmed.dropFirst(number.count))
        if suffix.hasSuffix("iB") { suffix.removeLast() }
        let multipliers: [String: Double] = [
            "": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 1024, "Mi": 1_048_576, "Gi": 1_073_741_824, "Ti": 1_099_511_627_776,
        ]
        guard let value = Double(number), value > 0, let multiplier = multipliers[suffix],
              let bytes = UInt64(exactly: (value * multiplier).rounded()) else {
            throw InputError("\(field.map { "\($0) " } ?? "")must be a size such as 4Gi, 512Mi or 4G, got '\(text)'",
                             recovery: "use Kubernetes' notation: a number followed by Ki, Mi, Gi (powers of 1024) or k, M, G (powers of 1000)")
        }
        return bytes
    }

    /// `4.0 GiB`, `512 MiB`.
    public static func format(_ bytes: UInt64) -> String {
        let gib = Double(bytes) / 1_073_741_824
        if gib >= 1 { return String(format: "%.1f GiB", gib) }
        return String(format: "%.0f MiB", Double(bytes) / 1_048_576)
    }
}
