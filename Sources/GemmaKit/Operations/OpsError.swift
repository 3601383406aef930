import Foundation

/// Errors from the day-2 operations commands (health, slots, rotate-key, doctor).
///
/// A struct around a private code, so cases can grow without breaking callers.
public struct OpsError: ActionableError, Equatable {
    /// Which kind of failure this is: a struct around a private code, so kinds can be added without
    /// breaking callers; compare with the static members (`error.code == .invalidURL`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case invalidURL, unreachable, timedOut, badResponse, keyRejected, fileUnreadable, fileUnwritable, variableMissing, variableDuplicated, keysFileUnmanaged, noTarget, kubectlMissing, commandFailed, verificationFailed, noKey
        }
        fileprivate let base: Base
        public var description: String { base.rawValue }

        public static let invalidURL = Code(base: .invalidURL)
        public static let unreachable = Code(base: .unreachable)
        public static let timedOut = Code(base: .timedOut)
        public static let badResponse = Code(base: .badResponse)
        public static let keyRejected = Code(base: .keyRejected)
        public static let fileUnreadable = Code(base: .fileUnreadable)
        public static let fileUnwritable = Code(base: .fileUnwritable)
        public static let variableMissing = Code(base: .variableMissing)
        public static let variableDuplicated = Code(base: .variableDuplicated)
        public static let keysFileUnmanaged = Code(base: .keysFileUnmanaged)
        public static let noTarget = Code(base: .noTarget)
        public static let kubectlMissing = Code(base: .kubectlMissing)
        public static let commandFailed = Code(base: .commandFailed)
        public static let verificationFailed = Code(base: .verificationFailed)
        public static let noKey = Code(base: .noKey)
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
