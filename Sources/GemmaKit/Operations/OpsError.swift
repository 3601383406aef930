import Foundation

/// Errors from the day-2 operations commands (health, slots, rotate-key, doctor).
///
/// A struct around a private code, so cases can grow without breaking callers.
public struct OpsError: ActionableError, Equatable {
    public enum Code: String, Sendable {
        case invalidURL, unreachable, timedOut, badResponse, keyRejected, invalidDuration, invalidQuantity
        case fileUnreadable, fileUnwritable, variableMissing, variableDuplicated, keysFileUnmanaged, noTarget
        case kubectlMissing, commandFailed, verificationFailed, noKey
    }

    public let code: Code
    public let message: String
    public let recovery: String?

    public init(_ code: Code, _ message: String, recovery: String? = nil) {
        self.code = code
        self.message = message
        self.recovery = recovery
    }
}
