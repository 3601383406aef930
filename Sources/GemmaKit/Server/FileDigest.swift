import Foundation
import Synchronization

/// The SHA-256 of a file, computed once on a thread of its own: a model file is hundreds of
/// megabytes, and hashing it must hold up neither start-up nor a request.
public final class FileDigest: Sendable {
    private let state = Mutex<String?>(nil)

    /// Starts hashing `path` now; `value` is nil until it is done (or if the file cannot be read).
    public init(path: String) {
        let thread = Thread { [self] in
            nameCurrentThread("gemmactl-sha256")
            guard let digest = try? ModelDownloader.sha256(of: URL(fileURLWithPath: path)) else { return }
            state.withLock { $0 = digest }
        }
        thread.start()
    }

    /// The lowercase hex SHA-256, once computed.
    public var value: String? { state.withLock { $0 } }
}
