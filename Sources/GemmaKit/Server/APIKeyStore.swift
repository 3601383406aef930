import Crypto
import Foundation
import Logging
import Synchronization

/// The API keys the server accepts: keys from the environment plus a keys file that is re-read
/// when it changes (a rename over it and Kubernetes' secret-volume symlink swap included), so
/// keys rotate without a restart.
///
/// Keys are kept only as SHA-256 digests and compared in constant time; none is ever logged.
public final class APIKeyStore: Sendable {
    private struct State {
        /// Keys from the file with the time they stop being valid (a rotation's grace deadline), if any.
        var fileKeys: [(digest: [UInt8], expires: Date?)] = []
        var fingerprint: FileFingerprint?
        /// Changes of the file handled so far, taken or refused.
        var changesHandled = 0

        var fileDigests: [[UInt8]] {
            let now = Date()
            return fileKeys.filter { $0.expires.map { $0 > now } ?? true }.map(\.digest)
        }
    }

    private let staticDigests: [[UInt8]]
    private let file: String?
    private let state = Mutex(State())
    private let logger = Logger(label: "gemmactl.auth")

    /// Loads the keys; a keys file that cannot be read or holds no key is an error at start-up.
    public init(keys: [String], file: String?) throws(ServeError) {
        staticDigests = keys.map { Self.digest($0) }
        self.file = file
        if let file {
            let loaded = try Self.read(file)
            guard !loaded.keys.isEmpty else {
                throw ServeError("the API keys file \(file) holds no key",
                                 recovery: "put one key per line in it (lines starting with # are comments)")
            }
            state.withLock { $0 = State(fileKeys: loaded.keys, fingerprint: loaded.fingerprint) }
        }
    }

    /// Whether any key is configured (auth is on).
    public var isEnabled: Bool { !staticDigests.isEmpty || file != nil }

    /// Number of keys currently valid.
    public var count: Int { staticDigests.count + state.withLock { $0.fileDigests.count } }

    /// Whether `presented` is one of the keys. Takes the same time whichever key matches, or none.
    public func accepts(_ presented: String) -> Bool {
        let candidate = Self.digest(presented)
        let all = staticDigests + state.withLock { $0.fileDigests }
        var matched: UInt8 = 0
        for key in all {
            var difference: UInt8 = 0
            for i in 0..<32 { difference |= key[i] ^ candidate[i] }
            matched |= difference == 0 ? 1 : 0
        }
        return matched == 1
    }

    /// How many changes of the keys file have been handled (taken, or refused and the last good
    /// keys kept): something that changed the file can wait for this to pass its earlier value.
    public var changesHandled: Int { state.withLock { $0.changesHandled } }

    /// Re-reads the keys file if it changed. An unreadable or empty file keeps the last good keys.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        guard let file else { return false }
        let current = FileFingerprint(path: file)
        guard current != state.withLock({ $0.fingerprint }) else { return false }
        do {
            let loaded = try Self.read(file)
            guard !loaded.keys.isEmpty else {
                logger.warning("API keys file is now empty; keeping the previous keys", metadata: ["file": "\(file)"])
                keepKeys(seeing: current)
                return false
            }
            state.withLock { state in
                state.fileKeys = loaded.keys
                state.fingerprint = loaded.fingerprint
                state.changesHandled += 1
            }
            logger.info("API keys reloaded", metadata: ["file": "\(file)", "keys": "\(loaded.keys.count)"])
            return true
        } catch {
            logger.warning("API keys file cannot be read; keeping the previous keys", metadata: ["file": "\(file)", "error": "\(error.message)"])
            keepKeys(seeing: current)
            return false
        }
    }

    /// A change that is refused: the keys stay, the file's new state is not read again.
    private func keepKeys(seeing fingerprint: FileFingerprint?) {
        state.withLock { state in
            state.fingerprint = fingerprint
            state.changesHandled += 1
        }
    }

    /// Polls the keys file until cancelled.
    public func watch(every interval: Duration) async {
        guard file != nil else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            reloadIfChanged()
        }
    }

    /// Parses a keys file: one key per line, blank lines and `#` comments ignored; a grace deadline
    /// that `gemmactl rotate-key --grace` recorded ends that key's validity.
    static func parse(_ text: String) -> [(digest: [UInt8], expires: Date?)] {
        KeysFile(text: text).keys.map { (digest($0.value), $0.expires) }
    }

    private static func read(_ path: String) throws(ServeError) -> (keys: [(digest: [UInt8], expires: Date?)], fingerprint: FileFingerprint?) {
        let before = FileFingerprint(path: path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServeError("cannot read the API keys file \(path)", recovery: "check that it exists and is readable by this user")
        }
        return (parse(String(decoding: data, as: UTF8.self)), before)
    }

    static func digest(_ key: String) -> [UInt8] { Array(SHA256.hash(data: Data(key.utf8))) }
}

/// Identity of a file's content as seen through symlinks: device, inode, size and change time.
struct FileFingerprint: Equatable, Sendable {
    let device: UInt64, inode: UInt64, size: Int64, modified: Int64, changed: Int64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    }
}
