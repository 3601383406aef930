import Foundation

/// Writes files the safe way: a temp file in the same directory, fsync, then rename over the target,
/// so a reader (a running `gemmactl serve`) sees the old content or the new, never half of either.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws(OpsError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temp = "\(directory)/.\(url.lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw OpsError(.fileUnwritable, "cannot write next to \(path): \(String(cString: strerror(errno)))",
                           recovery: "check that the directory \(directory) exists and is writable")
        }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno)); return
                }
                offset += written
            }
        }
        if failure == nil, fchmod(fd, mode) != 0 { failure = String(cString: strerror(errno)) }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil, rename(temp, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temp)
            throw OpsError(.fileUnwritable, "cannot write \(path): \(failure)", recovery: "check the disk space and the directory's permissions; \(path) was left as it was")
        }
    }

    /// Reads a whole file, naming it in the error.
    public static func read(_ path: String, what: String) throws(OpsError) -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw OpsError(.fileUnreadable, "cannot read \(what) \(path): \((error as NSError).localizedDescription)",
                           recovery: FileManager.default.fileExists(atPath: path) ? "check the file's permissions" : "check the path")
        }
    }
}
