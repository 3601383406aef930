import Foundation

/// An error a person can act on: what happened and, where there is one, what to do about it.
///
/// Every error gemmactl shows on a terminal or in an HTTP body conforms, so one `catch` in `main`
/// can print `message` and `recovery` and choose the exit code.
public protocol ActionableError: Error, CustomStringConvertible, LocalizedError {
    /// What went wrong, naming the file, field or value involved.
    var message: String { get }
    /// What to do next, if anything.
    var recovery: String? { get }
    /// The process exit code when this error ends a command (1 unless a command documents others).
    var exitCode: Int32 { get }
}

extension ActionableError {
    public var exitCode: Int32 { 1 }
    public var description: String {
        if let recovery { return "\(message)\n  hint: \(recovery)" }
        return message
    }
    public var errorDescription: String? { description }
    public var recoverySuggestion: String? { recovery }
}
