import Foundation
import Logging
import Synchronization

/// Reads environment variables from the dictionary a command passes down (no default: the process's
/// environment is read in the command's resolve step only).
public enum Environment {
    public static func value(_ name: String, in environment: [String: String]) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }
}

/// The version gemmactl reports.
public enum GemmactlVersion {
    public static let current = "0.1.0"
}

/// Sets up swift-log once: plain lines on stderr.
public enum LogSetup {
    private static let once = Mutex(false)

    public static func bootstrap(level: Logger.Level) {
        let first = once.withLock { done in defer { done = true }; return !done }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
