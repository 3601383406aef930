import Foundation

/// Why a pull or a model lookup failed. Each case names the repository, file or host involved and
/// says what to do.
public struct ModelPullError: ActionableError, Equatable {
    /// Which kind of failure this is: a struct around a private code, so kinds can be added without
    /// breaking callers; compare with the static members (`error.code == .unauthorized`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case unauthorized, notFound, network, checksumMismatch, diskFull, cacheNotWritable, offlineNotCached, badReference, noMatchingFile, badResponse
        }
        fileprivate let base: Base
        public var description: String { base.rawValue }

        public static let unauthorized = Code(base: .unauthorized)
        public static let notFound = Code(base: .notFound)
        public static let network = Code(base: .network)
        public static let checksumMismatch = Code(base: .checksumMismatch)
        public static let diskFull = Code(base: .diskFull)
        public static let cacheNotWritable = Code(base: .cacheNotWritable)
        public static let offlineNotCached = Code(base: .offlineNotCached)
        public static let badReference = Code(base: .badReference)
        public static let noMatchingFile = Code(base: .noMatchingFile)
        public static let badResponse = Code(base: .badResponse)
    }

    public let code: Code
    public let message: String
    public let recovery: String?

    init(_ code: Code, _ message: String, recovery: String?) {
        self.code = code; self.message = message; self.recovery = recovery
    }

    static func unauthorized(_ what: String, status: Int, pageURL: String) -> Self {
        .init(.unauthorized, "\(what): access denied (HTTP \(status)); the model is gated or private",
              recovery: "set HF_TOKEN (or --token-file) to a token of an account that accepted the license on \(pageURL)")
    }

    static func notFound(_ what: String) -> Self {
        .init(.notFound, "\(what) was not found (HTTP 404)",
              recovery: "check the repository name, the file name and the revision (they are case-sensitive)")
    }

    static func network(_ what: String, _ detail: String, kept: UInt64, total: UInt64?) -> Self {
        let partial = kept > 0 ? "; \(kept) of \(total.map(String.init) ?? "?") bytes are kept" : ""
        return .init(.network, "downloading \(what) failed: \(detail)\(partial)",
                     recovery: "check the network and run the same command again: the download resumes where it stopped")
    }

    static func checksum(_ what: String, expected: String, actual: String) -> Self {
        .init(.checksumMismatch, "\(what): sha256 is \(actual), expected \(expected); the downloaded data was removed",
              recovery: "run the command again; if it fails again the source or --sha256 is wrong")
    }

    static func diskFull(_ directory: String, needed: UInt64, free: UInt64) -> Self {
        .init(.diskFull, "not enough disk space in \(directory): \(needed) bytes needed, \(free) free",
              recovery: "free space, or point the cache elsewhere with --cache-dir or LLAMA_CACHE / HF_HOME")
    }

    static func notWritable(_ directory: String, _ detail: String) -> Self {
        .init(.cacheNotWritable, "the model cache \(directory) is not writable: \(detail)",
              recovery: "fix its permissions, or choose another cache with --cache-dir or LLAMA_CACHE / HF_HOME")
    }

    static func offline(_ what: String, cache: String) -> Self {
        .init(.offlineNotCached, "\(what) is not in the model cache \(cache) and offline mode is on",
              recovery: "pull it first with network access (unset HF_HUB_OFFLINE, drop --offline), or copy the cache over")
    }
}

/// What a pull reports as it goes; rendered by the CLI as a bar, plain lines or JSON.
public enum PullEvent: Sendable, Equatable {
    /// Looking the file up: `source` is a URL.
    case resolving(source: String)
    /// The cached copy of branch or tag `ref` is at commit `cached`, but the hub's `ref` has moved
    /// on to `current`: the file is fetched at `current`.
    case stale(ref: String, cached: String, current: String)
    /// The hub could not be reached (`reason`), so the cached copy is used as it is, unchecked.
    case hubUnreachable(reason: String)
    /// Another process is downloading the same blob; waiting for its lock.
    case waiting(lock: String)
    /// Download started (`resumedFrom` > 0 when resuming a partial file).
    case started(file: String, total: UInt64?, resumedFrom: UInt64)
    case progress(bytes: UInt64, total: UInt64?)
    /// A try failed and will be retried after `delay` seconds.
    case retrying(attempt: Int, reason: String)
    case verifying
    /// Done: the file is at `path`; `downloaded` is false when it was already cached.
    case finished(path: String, downloaded: Bool)
}

/// A sink for pull events; must be cheap (progress events come often, the downloader throttles them).
public typealias PullProgressHandler = @Sendable (PullEvent) -> Void
