import Foundation

/// How much memory this process may use: the cgroup limit a Kubernetes memory limit sets, and
/// what the process holds now. Sizes the prompt cache so that llama-server's 8 GiB default does
/// not get a 4 GiB pod OOM-killed.
public enum MemoryBudget {
    /// Bytes allowed by cgroup v2 `memory.max` or v1 `memory.limit_in_bytes`, if limited.
    public static func cgroupLimit() -> UInt64? {
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            // v2 says "max" and v1 a huge number when there is no limit.
            guard let bytes = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes < 1 << 60 else { return nil }
            return bytes
        }
        return nil
    }

    /// The process's resident memory (VmRSS), if the system reports it.
    public static func residentBytes() -> UInt64? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count >= 2, let kib = UInt64(fields[1]) else { return nil }
            return kib * 1024
        }
        return nil
    }

    /// The prompt cache's budget in MiB when `--cache-ram` was not given: llama-server's default,
    /// but never more than half of what the memory limit leaves once the model and context are in
    /// (`resident`), so that the cache cannot be what pushes the pod over its limit.
    public static func defaultPromptCacheMiB(limit: UInt64?, resident: UInt64?) -> Int {
        let standard = PromptCacheSetting.llamaServerDefaultMiB
        guard let limit else { return standard }
        let left = limit > (resident ?? 0) ? limit - (resident ?? 0) : 0
        let share = Int(left / 2 / (1024 * 1024))
        // Zero would switch the cache off; one MiB keeps the setting's meaning (a tiny cache).
        return max(1, min(standard, share))
    }
}

/// `--cache-ram` as llama-server takes it: MiB, -1 for no limit, 0 for no prompt cache; unset
/// means llama-server's default capped by the memory limit (`MemoryBudget`).
public enum PromptCacheSetting: Sendable, Equatable {
    case automatic
    case mebibytes(Int)
    case unlimited
    case off

    /// llama-server's `--cache-ram` default.
    public static let llamaServerDefaultMiB = 8192

    /// `--cache-ram`'s text as llama-server reads it (a `Setting` parser: the message starts with "must be").
    public static func parse(_ text: String) throws(InputError) -> PromptCacheSetting {
        switch Int(text.trimmingCharacters(in: .whitespaces)) ?? -2 {
        case -1: return .unlimited
        case 0: return .off
        case let mib where mib > 0: return .mebibytes(mib)
        default: throw InputError("must be a size in MiB, -1 for no limit or 0 for no prompt cache, got '\(text)'")
        }
    }

    /// The budget in MiB for `PromptCache(budgetMiB:)` (-1: no limit), or nil for no cache.
    func budgetMiB(limit: UInt64?, resident: UInt64?) -> Int? {
        switch self {
        case .automatic: MemoryBudget.defaultPromptCacheMiB(limit: limit, resident: resident)
        case .mebibytes(let mib): mib
        case .unlimited: -1
        case .off: nil
        }
    }
}
