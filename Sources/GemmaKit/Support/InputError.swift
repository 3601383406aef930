import Foundation

/// Input a person gave that cannot be used: a flag, an environment variable, a values file or a
/// template (`render`), or `serve`'s settings (`ServeError`). The message names the field or file.
public struct InputError: ActionableError, Equatable {
    public let message: String
    public let recovery: String?
    public init(_ message: String, recovery: String? = nil) {
        self.message = message
        self.recovery = recovery
    }
}
