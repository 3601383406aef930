import Foundation

/// How many CPUs this process may really use: the cgroup quota a Kubernetes CPU limit sets,
/// else the online processors. llama.cpp slows sharply when it runs more threads than that.
public enum CPUBudget {
    public static let defaultThreads: Int = {
        let online = ProcessInfo.processInfo.activeProcessorCount
        guard let quota = cgroupQuota() else { return max(1, online) }
        return max(1, min(online, Int(quota.rounded(.up))))
    }()

    /// CPUs allowed by cgroup v2 `cpu.max` or v1 `cfs_quota_us/cfs_period_us`, if limited.
    static func cgroupQuota() -> Double? {
        func number(_ path: String) -> Double? {
            (try? String(contentsOfFile: path, encoding: .utf8))
                .flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        if let line = try? String(contentsOfFile: "/sys/fs/cgroup/cpu.max", encoding: .utf8) {
            let parts = line.split(whereSeparator: \.isWhitespace)
            guard parts.count == 2, let quota = Double(parts[0]), let period = Double(parts[1]), period > 0 else { return nil }
            return quota / period
        }
        if let quota = number("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), let period = number("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
           quota > 0, period > 0 {
            return quota / period
        }
        return nil
    }
}
