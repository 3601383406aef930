import CLlama
import Foundation
import Logging
import Synchronization

/// The process-wide llama.cpp backend: initialised once, on first use, and never torn down by an
/// object's deinit (it outlives every model and context).
///
/// llama.cpp's own log lines go to swift-log under the label `llama.cpp` at `debug` level, except
/// errors and warnings; the last error line is kept so load failures can say what llama.cpp saw.
public enum LlamaBackend {
    private static let initialized: Void = {
        llama_log_set(llamaLogCallback, nil)
        llama_backend_init()
    }()

    /// Initialises the backend if it is not yet.
    public static func initialize() { _ = initialized }

    /// The llama.cpp version string this binary was built with (commit and build number).
    public static var systemInfo: String { String(cString: llama_print_system_info()) }

    static let logger = Logger(label: "llama.cpp")
    static let errorLines = Mutex<[String]>([])
    static let pendingLine = Mutex<String>("")

    /// Forgets earlier error lines, so a following failure reports only its own.
    static func clearLastError() { errorLines.withLock { $0 = [] } }

    /// The error lines llama.cpp logged since `clearLastError`, joined, most telling first.
    static func takeLastError() -> String? {
        let lines = errorLines.withLock { lines in defer { lines = [] }; return lines }
        guard !lines.isEmpty else { return nil }
        // The first line usually says why; later ones repeat that loading failed.
        return lines.count == 1 ? lines[0] : lines.prefix(3).joined(separator: "; ")
    }
}

private func llamaLogCallback(level: ggml_log_level, text: UnsafePointer<CChar>?, _: UnsafeMutableRawPointer?) {
    guard let text else { return }
    let chunk = String(cString: text)
    // llama.cpp may split one line over several calls (GGML_LOG_LEVEL_CONT); join them.
    let line: String? = LlamaBackend.pendingLine.withLock { pending in
        pending += chunk
        guard pending.hasSuffix("\n") else { return nil }
        defer { pending = "" }
        return pending.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    guard let line, !line.isEmpty else { return }
    switch level {
    case GGML_LOG_LEVEL_ERROR:
        LlamaBackend.errorLines.withLock { lines in
            if lines.count < 20 { lines.append(line) }
        }
        LlamaBackend.logger.debug("\(line)")
    case GGML_LOG_LEVEL_WARN:
        LlamaBackend.logger.debug("\(line)")
    default:
        LlamaBackend.logger.trace("\(line)")
    }
}
