import Foundation
import Synchronization

/// Renders pull events on stderr: a bar on a terminal (bytes, rate, ETA), plain lines every few
/// seconds otherwise (init-container logs), JSON lines on stdout, or nothing.
public final class PullProgressPrinter: Sendable {
    public enum Style: Sendable { case bar, lines, json, quiet }

    struct State {
        var started = ContinuousClock.now
        var resumedFrom: UInt64 = 0
        var lastLine = ContinuousClock.now
        var lastBytes: UInt64 = 0
    }

    let style: Style
    let lineInterval: Duration
    let state = Mutex(State())
    let write: @Sendable (String, _ toStdout: Bool) -> Void

    public init(style: Style, lineInterval: Duration = .seconds(5),
                write: (@Sendable (String, Bool) -> Void)? = nil) {
        self.style = style
        self.lineInterval = lineInterval
        self.write = write ?? { text, toStdout in
            (toStdout ? FileHandle.standardOutput : FileHandle.standardError).write(Data(text.utf8))
        }
    }

    /// The style for this process: a bar when stderr is a terminal, else lines.
    public static func automaticStyle(json: Bool, quiet: Bool) -> Style {
        if json { return .json }
        if quiet { return .quiet }
        return isatty(STDERR_FILENO) == 1 ? .bar : .lines
    }

    public var handler: PullProgressHandler { { [self] event in self.handle(event) } }

    public func handle(_ event: PullEvent) {
        switch style {
        case .quiet: return
        case .json: write(Self.json(event) + "\n", true)
        case .bar, .lines: text(event)
        }
    }

    func text(_ event: PullEvent) {
        switch event {
        case .resolving(let source):
            write("resolving \(source)\n", false)
        case .stale(let ref, let cached, let current):
            write("the cached \(ref) (\(cached.prefix(12))) is stale: the hub's \(ref) is now \(current.prefix(12)); fetching it\n", false)
        case .hubUnreachable(let reason):
            write("the hub cannot be reached (\(reason)): using the cached copy as it is\n", false)
        case .waiting(let lock):
            write("waiting for another download of the same file (lock \(lock))\n", false)
        case .started(let file, let total, let resumedFrom):
            state.withLock { $0 = State(resumedFrom: resumedFrom, lastBytes: resumedFrom) }
            let size = total.map { " (\(Self.bytes($0)))" } ?? ""
            let resume = resumedFrom > 0 ? ", resuming at \(Self.bytes(resumedFrom))" : ""
            write("downloading \(file)\(size)\(resume)\n", false)
        case .progress(let bytes, let total):
            let (rate, show) = state.withLock { state -> (Double, Bool) in
                let now = ContinuousClock.now
                let elapsed = now - state.started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let rate = seconds > 0 ? Double(bytes - min(bytes, state.resumedFrom)) / seconds : 0
                let due = style == .bar || now - state.lastLine >= lineInterval || (total.map { bytes >= $0 } ?? false)
                if due { state.lastLine = now }
                return (rate, due)
            }
            guard show else { return }
            let eta = total.flatMap { total -> String? in
                guard rate > 0, total > bytes else { return nil }
                return Self.duration(Double(total - bytes) / rate)
            }
            let percent = total.map { $0 > 0 ? Int(Double(bytes) * 100 / Double($0)) : 100 }
            if style == .bar {
                let width = 28
                let filled = percent.map { min(width, $0 * width / 100) } ?? 0
                let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
                let line = "\r\(percent.map { String(format: "%3d%%", $0) } ?? "   ?") \(bar) \(Self.bytes(bytes))"
                    + (total.map { " / \(Self.bytes($0))" } ?? "") + "  \(Self.bytes(UInt64(rate)))/s"
                    + (eta.map { "  ETA \($0)" } ?? "") + "   "
                write(line, false)
            } else {
                write("progress: \(Self.bytes(bytes))" + (total.map { " of \(Self.bytes($0))" } ?? "")
                      + (percent.map { " (\($0)%)" } ?? "") + ", \(Self.bytes(UInt64(rate)))/s"
                      + (eta.map { ", ETA \($0)" } ?? "") + "\n", false)
            }
        case .retrying(let attempt, let reason):
            write("\(style == .bar ? "\n" : "")retrying (attempt \(attempt)): \(reason)\n", false)
        case .verifying:
            write("\(style == .bar ? "\n" : "")verifying sha256\n", false)
        case .finished(let path, let downloaded):
            write(downloaded ? "done: \(path)\n" : "cached: \(path)\n", false)
        }
    }

    /// One JSON object per event: `{"event":"progress","bytes":...,"total":...}`.
    public static func json(_ event: PullEvent) -> String {
        var object: [String: Any]
        switch event {
        case .resolving(let source): object = ["event": "resolving", "source": source]
        case .stale(let ref, let cached, let current): object = ["event": "stale", "ref": ref, "cached": cached, "current": current]
        case .hubUnreachable(let reason): object = ["event": "hub_unreachable", "reason": reason]
        case .waiting(let lock): object = ["event": "waiting", "lock": lock]
        case .started(let file, let total, let resumedFrom):
            object = ["event": "started", "file": file, "resumed_from": resumedFrom]
            if let total { object["total"] = total }
        case .progress(let bytes, let total):
            object = ["event": "progress", "bytes": bytes]
            if let total { object["total"] = total }
        case .retrying(let attempt, let reason): object = ["event": "retrying", "attempt": attempt, "reason": reason]
        case .verifying: object = ["event": "verifying"]
        case .finished(let path, let downloaded): object = ["event": "finished", "path": path, "downloaded": downloaded]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `253.1 MiB`.
    public static func bytes(_ value: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var size = Double(value)
        var unit = 0
        while size >= 1024 && unit < units.count - 1 { size /= 1024; unit += 1 }
        return unit == 0 ? "\(value) B" : String(format: "%.1f", size) + " " + units[unit]
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 3600 ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%d:%02d", total / 60, total % 60)
    }
}
