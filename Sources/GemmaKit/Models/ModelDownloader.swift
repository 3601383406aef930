import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// Downloads model files into the hub cache: resolves the hub's metadata, streams to
/// `blobs/<sha256>.incomplete` with Range resume, verifies the sha256, renames atomically and links
/// the snapshot. One instance owns one HTTP client; call `shutdown()` when done.
public final class ModelDownloader: Sendable {
    public let cache: HubCache
    public let settings: HubSettings
    let client: HTTPClient

    public init(cache: HubCache, settings: HubSettings) {
        self.cache = cache
        self.settings = settings
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(30), read: .seconds(60))
        configuration.decompression = .disabled
        // A refused connection fails at once (the client would otherwise retry it until the connect
        // timeout, 30 s): a hub that is down falls back to the cache without a wait, and downloads
        // retry on their own terms (`HubSettings.retries`).
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    // MARK: Hugging Face

    /// What the hub says about a file before its download.
    struct FileMetadata {
        var commit: String?
        var etag: String?
        var size: UInt64?
    }

    /// Pulls `file` of `repo` at `revision` into the cache (or finds it there) and returns its snapshot path.
    public func pullHuggingFace(repo: String, file: String, revision: String = "main", sha256: String? = nil,
                                progress: PullProgressHandler? = nil) async throws -> URL {
        let what = "\(repo)/\(file)"
        if settings.offline {
            if let url = cache.cachedFile(repo: repo, file: file, revision: revision) {
                progress?(.finished(path: url.path, downloaded: false))
                return url
            }
            throw ModelPullError.offline(what, cache: cache.root.path)
        }
        let resolveURL = try Self.url(settings.endpoint, path: "/\(repo)/resolve/\(Self.escape(revision))/\(Self.escapePath(file))")
        progress?(.resolving(source: resolveURL.absoluteString))
        let metadata: FileMetadata
        do {
            metadata = try await headMetadata(resolveURL, what: what, page: "\(settings.endpoint.absoluteString)/\(repo)")
        } catch let error as ModelPullError where error.code == .network {
            // As huggingface_hub does: without the hub, a cached copy of the ref is still good.
            if let url = cache.cachedFile(repo: repo, file: file, revision: revision) {
                progress?(.hubUnreachable(reason: error.message))
                progress?(.finished(path: url.path, downloaded: false))
                return url
            }
            throw error
        }
        let lfsSHA = metadata.etag.flatMap { Self.isSHA256($0) ? $0 : nil }
        if let sha256, let lfsSHA, sha256.lowercased() != lfsSHA {
            throw ModelPullError(.checksumMismatch, "\(what): --sha256 \(sha256) differs from the hub's \(lfsSHA)",
                                 recovery: "check the value passed to --sha256, or leave it out to use the hub's")
        }
        let expected = sha256?.lowercased() ?? lfsSHA
        guard let blobName = expected ?? metadata.etag else {
            throw ModelPullError(.badResponse, "the hub sent no ETag for \(what), so the file cannot be verified",
                                 recovery: "pass --sha256 with the file's checksum")
        }
        let commit = metadata.commit ?? revision
        if let cached = cache.commit(repo: repo, ref: revision), cached != commit {
            progress?(.stale(ref: revision, cached: cached, current: commit))
        }
        let snapshot = cache.repoDirectory(repo).appendingPathComponent("snapshots").appendingPathComponent(commit)
            .appendingPathComponent(file)
        let blob = cache.repoDirectory(repo).appendingPathComponent("blobs").appendingPathComponent(blobName)
        let downloaded = try await store(
            blob: blob, expectedSHA256: expected, size: metadata.size, what: what, lockName: blobName, repo: repo,
            source: resolveURL, authorizedHost: settings.endpoint, progress: progress)
        try cache.link(snapshot: snapshot, blob: blob, file: file)
        if commit != revision { try cache.writeRef(repo: repo, ref: revision, commit: commit) }
        progress?(.finished(path: snapshot.path, downloaded: downloaded))
        return snapshot
    }

    /// The files of a repository at a revision (hub API `/api/models/REPO/tree/REVISION`).
    public func listFiles(repo: String, revision: String = "main") async throws -> [HubFileEntry] {
        let url = try Self.url(settings.endpoint, path: "/api/models/\(repo)/tree/\(Self.escape(revision))")
        var request = HTTPClientRequest(url: url.absoluteString)
        authorize(&request, for: url)
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(60))
            body = try await response.body.collect(upTo: 32 << 20)
        } catch {
            throw ModelPullError.network("the file list of \(repo)", Self.describe(error), kept: 0, total: nil)
        }
        try check(response.status, what: "repository \(repo) (revision \(revision))",
                  page: "\(settings.endpoint.absoluteString)/\(repo)")
        do {
            return try JSONDecoder().decode([HubFileEntry].self, from: Data(body.readableBytesView))
        } catch {
            throw ModelPullError(.badResponse, "the hub's file list for \(repo) is not the expected JSON: \(error)",
                                 recovery: "check HF_ENDPOINT points at a Hugging Face hub")
        }
    }

    /// HEAD on the resolve URL without following the CDN redirect; relative redirects on the
    /// hub itself (renamed repositories) are followed.
    func headMetadata(_ url: URL, what: String, page: String) async throws -> FileMetadata {
        var current = url
        for _ in 0..<5 {
            var request = HTTPClientRequest(url: current.absoluteString)
            request.method = .HEAD
            authorize(&request, for: current)
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: .seconds(60))
            } catch {
                throw ModelPullError.network(what, Self.describe(error), kept: 0, total: nil)
            }
            let headers = response.headers
            let etag = (headers.first(name: "X-Linked-Etag") ?? headers.first(name: "ETag")).map(Self.cleanETag)
            let size = (headers.first(name: "X-Linked-Size") ?? headers.first(name: "Content-Length")).flatMap { UInt64($0) }
            let commit = headers.first(name: "X-Repo-Commit")
            if (300..<400).contains(Int(response.status.code)) {
                if headers.first(name: "X-Linked-Etag") != nil {
                    return FileMetadata(commit: commit, etag: etag, size: size)
                }
                guard let location = headers.first(name: "Location"), let next = URL(string: location, relativeTo: current)?.absoluteURL else {
                    throw ModelPullError(.badResponse, "\(what): redirect (HTTP \(response.status.code)) without a Location",
                                         recovery: "check HF_ENDPOINT points at a Hugging Face hub")
                }
                if Self.sameOrigin(next, settings.endpoint) { current = next; continue }
                return FileMetadata(commit: commit, etag: etag, size: size)
            }
            try check(response.status, what: what, page: page)
            return FileMetadata(commit: commit, etag: etag, size: size)
        }
        throw ModelPullError(.badResponse, "\(what): too many redirects on the hub", recovery: "check HF_ENDPOINT")
    }

    // MARK: Storing a blob

    /// Downloads `source` into `blob` unless it is there; true when it downloaded.
    func store(blob: URL, expectedSHA256: String?, size: UInt64?, what: String, lockName: String, repo: String,
               source: URL, authorizedHost: URL?, progress: PullProgressHandler?) async throws -> Bool {
        let fileManager = FileManager.default
        let blobs = blob.deletingLastPathComponent()
        let locks = cache.root.appendingPathComponent(".locks").appendingPathComponent(HubCache.folderName(repo: repo))
        do {
            try fileManager.createDirectory(at: blobs, withIntermediateDirectories: true)
            try fileManager.createDirectory(at: locks, withIntermediateDirectories: true)
        } catch {
            throw ModelPullError.notWritable(cache.root.path, (error as NSError).localizedDescription)
        }
        if fileManager.fileExists(atPath: blob.path) { return false }
        let lock = try await FileLock.acquire(path: locks.appendingPathComponent(lockName + ".lock").path,
                                              cacheRoot: cache.root.path) { progress?(.waiting(lock: $0)) }
        defer { lock.release() }
        if fileManager.fileExists(atPath: blob.path) { return false }   // the other pull finished it

        let partial = blob.appendingPathExtension("incomplete")
        var attempt = 0
        while true {
            do {
                try await download(source, to: partial, size: size, what: what, authorizedHost: authorizedHost,
                                   progress: progress)
                break
            } catch let error as ModelPullError where error.code == .network && attempt < settings.retries {
                attempt += 1
                progress?(.retrying(attempt: attempt, reason: error.message))
                try await Task.sleep(for: .seconds(settings.retryDelay * Double(1 << (attempt - 1))))
            }
        }
        progress?(.verifying)
        if let expectedSHA256 {
            let actual = try Self.sha256(of: partial)
            guard actual == expectedSHA256 else {
                try? fileManager.removeItem(at: partial)
                throw ModelPullError.checksum(what, expected: expectedSHA256, actual: actual)
            }
        }
        guard rename(partial.path, blob.path) == 0 else {
            throw ModelPullError.notWritable(blobs.path, String(cString: strerror(errno)))
        }
        return true
    }

    /// One try: appends to `partial` from its current size (Range), following redirects by hand so
    /// the token goes only to `authorizedHost`.
    func download(_ source: URL, to partial: URL, size: UInt64?, what: String, authorizedHost: URL?,
                  progress: PullProgressHandler?) async throws {
        var offset = Self.fileSize(partial) ?? 0
        if let size, offset > size { try? FileManager.default.removeItem(at: partial); offset = 0 }
        var current = source
        var response: HTTPClientResponse?
        for _ in 0..<10 {
            var request = HTTPClientRequest(url: current.absoluteString)
            if offset > 0 { request.headers.add(name: "Range", value: "bytes=\(offset)-") }
            if let authorizedHost, Self.sameOrigin(current, authorizedHost) { authorize(&request, for: current) }
            let candidate: HTTPClientResponse
            do {
                candidate = try await client.execute(request, deadline: .distantFuture)
            } catch {
                throw ModelPullError.network(what, Self.describe(error), kept: offset, total: size)
            }
            if (300..<400).contains(Int(candidate.status.code)) {
                guard let location = candidate.headers.first(name: "Location"),
                      let next = URL(string: location, relativeTo: current)?.absoluteURL else {
                    throw ModelPullError(.badResponse, "\(what): redirect without a Location", recovery: "try again later")
                }
                current = next
                continue
            }
            response = candidate
            break
        }
        guard let response else {
            throw ModelPullError(.badResponse, "\(what): too many redirects", recovery: "try again later")
        }
        switch response.status.code {
        case 206:
            let start = response.headers.first(name: "Content-Range").flatMap(Self.rangeStart)
            if start != offset { offset = 0; try Self.truncate(partial) }
        case 200:
            if offset > 0 { offset = 0; try Self.truncate(partial) }
        case 416:
            // The partial file is as long as (or longer than) the file: start over.
            try? FileManager.default.removeItem(at: partial)
            throw ModelPullError.network(what, "the server refused the resume range", kept: 0, total: size)
        default:
            try check(response.status, what: what, page: authorizedHost.map { "\($0.absoluteString)" } ?? current.absoluteString)
        }
        let length = response.headers.first(name: "Content-Length").flatMap { UInt64($0) }
        let total = size ?? length.map { $0 + offset }
        if let total, total > offset {
            try checkFreeSpace(for: total - offset, in: partial.deletingLastPathComponent())
        }
        progress?(.started(file: what, total: total, resumedFrom: offset))

        let descriptor = open(partial.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ModelPullError.notWritable(partial.deletingLastPathComponent().path, String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var written = offset
        var lastReport = ContinuousClock.now
        do {
            for try await chunk in response.body {
                try chunk.withUnsafeReadableBytes { bytes in
                    var done = 0
                    while done < bytes.count {
                        let n = write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                        if n < 0 {
                            if errno == EINTR { continue }
                            let code = errno
                            if code == ENOSPC || code == EDQUOT {
                                throw ModelPullError.diskFull(partial.deletingLastPathComponent().path,
                                                              needed: (total ?? 0) - min(total ?? 0, written), free: 0)
                            }
                            throw ModelPullError.notWritable(partial.path, String(cString: strerror(code)))
                        }
                        done += n
                    }
                }
                written += UInt64(chunk.readableBytes)
                let now = ContinuousClock.now
                if now - lastReport > .milliseconds(200) {
                    lastReport = now
                    progress?(.progress(bytes: written, total: total))
                }
            }
        } catch let error as ModelPullError {
            throw error
        } catch {
            throw ModelPullError.network(what, Self.describe(error), kept: written, total: total)
        }
        if let total, written != total {
            throw ModelPullError.network(what, "the connection closed after \(written) of \(total) bytes",
                                         kept: written, total: total)
        }
        progress?(.progress(bytes: written, total: total))
    }

    func checkFreeSpace(for needed: UInt64, in directory: URL) throws {
        guard let attributes = try? FileManager.default.attributesOfFileSystem(forPath: directory.path),
              let free = (attributes[.systemFreeSize] as? NSNumber)?.uint64Value else { return }
        // Keep 64 MiB spare so the node does not run dry.
        if free < needed + (64 << 20) {
            throw ModelPullError.diskFull(directory.path, needed: needed, free: free)
        }
    }

    // MARK: HTTP helpers

    func authorize(_ request: inout HTTPClientRequest, for url: URL) {
        guard let token = settings.token, Self.sameOrigin(url, settings.endpoint) else { return }
        request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token)")
    }

    /// Maps an error status to an error naming `what`.
    func check(_ status: HTTPResponseStatus, what: String, page: String) throws {
        switch status.code {
        case 200..<300: return
        case 401, 403: throw ModelPullError.unauthorized(what, status: Int(status.code), pageURL: page)
        case 404: throw ModelPullError.notFound(what)
        case 500..<600, 408, 429:
            throw ModelPullError.network(what, "the server answered HTTP \(status.code)", kept: 0, total: nil)
        default:
            throw ModelPullError(.badResponse, "\(what): unexpected HTTP \(status.code) \(status.reasonPhrase)",
                                 recovery: "check the endpoint URL and try again")
        }
    }

    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        a.scheme?.lowercased() == b.scheme?.lowercased() && a.host?.lowercased() == b.host?.lowercased()
            && (a.port ?? defaultPort(a)) == (b.port ?? defaultPort(b))
    }

    static func defaultPort(_ url: URL) -> Int { url.scheme?.lowercased() == "http" ? 80 : 443 }

    static func url(_ base: URL, path: String) throws -> URL {
        guard let url = URL(string: base.absoluteString + path) else {
            throw ModelPullError(.badReference, "cannot build a URL from \(base.absoluteString) and \(path)",
                                 recovery: "check the repository and file names")
        }
        return url
    }

    static func escape(_ component: String) -> String {
        component.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? component
    }

    static func escapePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { escape(String($0)) }.joined(separator: "/")
    }

    static func cleanETag(_ value: String) -> String {
        var text = value.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("W/") { text.removeFirst(2) }
        return text.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
    }

    static func isSHA256(_ text: String) -> Bool {
        text.count == 64 && text.allSatisfy { $0.isHexDigit }
    }

    static func rangeStart(_ contentRange: String) -> UInt64? {
        // "bytes 100-199/200"
        let parts = contentRange.split(separator: " ")
        guard parts.count == 2, let dash = parts[1].firstIndex(of: "-") else { return nil }
        return UInt64(parts[1][..<dash])
    }

    static func describe(_ error: Error) -> String {
        if let error = error as? HTTPClientError { return String(describing: error) }
        if let error = error as? IOError { return error.description }
        return String(describing: error)
    }

    static func fileSize(_ url: URL) -> UInt64? {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        return UInt64(info.st_size)
    }

    static func truncate(_ url: URL) throws {
        if FileManager.default.fileExists(atPath: url.path), Glibc.truncate(url.path, 0) != 0 {
            throw ModelPullError.notWritable(url.path, String(cString: strerror(errno)))
        }
    }

    /// The hex sha256 of a file, read in 4 MiB chunks.
    public static func sha256(of url: URL) throws -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw ModelPullError.notWritable(url.path, "cannot open it to verify")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// One entry of the hub's tree API.
public struct HubFileEntry: Sendable, Decodable, Equatable {
    public struct LFS: Sendable, Decodable, Equatable {
        public var oid: String
        public var size: UInt64
    }
    public var type: String
    public var path: String
    public var size: UInt64?
    public var lfs: LFS?
}

/// An exclusive `flock` on a lock file, polled so no thread blocks while another process downloads.
struct FileLock {
    let descriptor: Int32

    static func acquire(path: String, cacheRoot: String, waiting: (String) -> Void) async throws -> FileLock {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ModelPullError.notWritable(cacheRoot, String(cString: strerror(errno))) }
        var announced = false
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw ModelPullError.notWritable(cacheRoot, "cannot lock \(path): \(reason)")
            }
            if !announced { waiting(path); announced = true }
            do { try await Task.sleep(for: .milliseconds(100)) } catch { close(descriptor); throw error }
        }
        return FileLock(descriptor: descriptor)
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
