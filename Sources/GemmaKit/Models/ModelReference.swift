import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore

/// A model as a person names it: a local file, a Hugging Face repository (and file or quant tag),
/// or an Ollama registry name.
public enum ModelReference: Sendable, Equatable, CustomStringConvertible {
    /// A GGUF file on disk.
    case file(path: String)
    /// A file of a Hugging Face repository; `file` nil means "pick by `quant`" (default Q4_K_M).
    case huggingFace(repo: String, file: String?, quant: String?, revision: String)
    /// `ollama://[NAMESPACE/]NAME[:TAG]` (namespace `library` and tag `latest` by default).
    case ollama(namespace: String, name: String, tag: String)

    public var description: String {
        switch self {
        case .file(let path): return path
        case .huggingFace(let repo, let file, let quant, let revision):
            let suffix = file.map { "/\($0)" } ?? quant.map { ":\($0)" } ?? ""
            return repo + suffix + (revision == "main" ? "" : "@\(revision)")
        case .ollama(let namespace, let name, let tag):
            return "ollama://\(namespace == "library" ? "" : namespace + "/")\(name):\(tag)"
        }
    }

    /// Parses the value of `--model` or of `gemmactl pull`'s argument:
    /// `ollama://gemma3:1b`, `hf://ORG/REPO[:QUANT]`, `ORG/REPO:QUANT` (when `preferRepository`), else a path.
    public static func parse(_ text: String, revision: String = "main", preferRepository: Bool = false) throws -> ModelReference {
        if text.hasPrefix("ollama://") { return try parseOllama(String(text.dropFirst("ollama://".count))) }
        if text.hasPrefix("hf://") { return try parseRepository(String(text.dropFirst("hf://".count)), revision: revision) }
        if preferRepository && !text.hasPrefix("/") && !text.hasPrefix(".") && !text.lowercased().hasSuffix(".gguf")
            && !FileManager.default.fileExists(atPath: text) {
            return try parseRepository(text, revision: revision)
        }
        guard !text.isEmpty else {
            throw ModelPullError(.badReference, "the model name is empty", recovery: "pass a .gguf path, ORG/REPO[:QUANT] or ollama://NAME:TAG")
        }
        return .file(path: text)
    }

    /// From `--model`, `--hf-repo`, `--hf-file` and `--revision` as `serve` and `pull` take them.
    public init(model: String?, hfRepo: String?, hfFile: String?, revision: String? = nil) throws {
        let revision = revision ?? "main"
        if let hfRepo {
            guard model == nil else {
                throw ModelPullError(.badReference, "--model and --hf-repo were both given",
                                     recovery: "pass either a model (--model) or a repository (--hf-repo), not both")
            }
            let parsed = try Self.parseRepository(hfRepo, revision: revision)
            if let hfFile, case .huggingFace(let repo, _, _, _) = parsed {
                self = .huggingFace(repo: repo, file: hfFile, quant: nil, revision: revision)
            } else {
                self = parsed
            }
        } else if hfFile != nil {
            throw ModelPullError(.badReference, "--hf-file was given without --hf-repo",
                                 recovery: "add --hf-repo ORG/REPO")
        } else if let model {
            self = try Self.parse(model, revision: revision)
        } else {
            self = .huggingFace(repo: DefaultModel.repo, file: DefaultModel.file, quant: nil, revision: "main")
        }
    }

    static func parseRepository(_ text: String, revision: String) throws -> ModelReference {
        var repo = text
        var quant: String?
        if let colon = text.lastIndex(of: ":") {
            repo = String(text[..<colon])
            quant = String(text[text.index(after: colon)...])
        }
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        let valid = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy(valid.contains) && $0 != "." && $0 != ".." }),
              quant.map({ !$0.isEmpty && $0.unicodeScalars.allSatisfy(valid.contains) }) ?? true else {
            throw ModelPullError(.badReference, "'\(text)' is not a Hugging Face repository name",
                                 recovery: "write it as ORG/REPO or ORG/REPO:QUANT, e.g. ggml-org/gemma-3-1b-it-GGUF:Q4_K_M")
        }
        return .huggingFace(repo: repo, file: nil, quant: quant, revision: revision)
    }

    static func parseOllama(_ text: String) throws -> ModelReference {
        var name = text
        var tag = "latest"
        if let colon = text.lastIndex(of: ":") {
            name = String(text[..<colon])
            tag = String(text[text.index(after: colon)...])
        }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let valid = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        func ok(_ s: String) -> Bool { !s.isEmpty && s != "." && s != ".." && s.unicodeScalars.allSatisfy(valid.contains) }
        guard (1...2).contains(parts.count), parts.allSatisfy(ok), ok(tag) else {
            throw ModelPullError(.badReference, "'ollama://\(text)' is not an Ollama model name",
                                 recovery: "write it as ollama://NAME:TAG or ollama://NAMESPACE/NAME:TAG, e.g. ollama://gemma3:1b")
        }
        return parts.count == 2 ? .ollama(namespace: parts[0], name: parts[1], tag: tag)
            : .ollama(namespace: "library", name: parts[0], tag: tag)
    }

    /// Where an Ollama model lives in the hub cache: repository `ollama-NAMESPACE/NAME`
    /// (folder `models--ollama-library--gemma3`), file `NAME-TAG.gguf`, ref `TAG`.
    public static func ollamaCacheName(namespace: String, name: String, tag: String) -> (repo: String, file: String) {
        ("ollama-\(namespace)/\(name)", "\(name)-\(tag).gguf")
    }
}

/// Turns a `ModelReference` into a local GGUF path: the cached file, or a download into the cache.
///
///     let path = try await ModelResolver.resolve(try ModelReference(model: nil, hfRepo: repo, hfFile: file),
///                                                cache: .resolve(), offline: false) { event in log(event) }
public struct ModelResolver: Sendable {
    public var cache: HubCache
    public var settings: HubSettings

    public init(cache: HubCache, settings: HubSettings) {
        self.cache = cache; self.settings = settings
    }

    /// Resolves with settings from the environment (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`, `OLLAMA_REGISTRY`).
    public static func resolve(_ reference: ModelReference, cache: HubCache = .resolve(), offline: Bool = false,
                               progress: PullProgressHandler? = nil) async throws -> String {
        let settings = try HubSettings.resolve(offline: offline)
        return try await ModelResolver(cache: cache, settings: settings).resolve(reference, progress: progress)
    }

    /// The local path of `reference`, downloading it into the cache when missing.
    public func resolve(_ reference: ModelReference, sha256: String? = nil,
                        progress: PullProgressHandler? = nil) async throws -> String {
        if case .file(let path) = reference {
            guard FileManager.default.fileExists(atPath: path) else {
                throw GGUFError(.notFound, path: path, "")
            }
            return path
        }
        // Cached at a commit (every shard of a split model): no network needed. A branch or tag may
        // have moved on the hub since, so it is looked up again (offline: the cache decides).
        if case .huggingFace(let repo, let file?, _, let revision) = reference, sha256 == nil,
           HubCache.isCommit(revision) || settings.offline {
            let urls = (Self.splitShards(of: file) ?? [file]).map { cache.cachedFile(repo: repo, file: $0, revision: revision) }
            if let first = urls.first ?? nil, urls.allSatisfy({ $0 != nil }) {
                progress?(.finished(path: first.path, downloaded: false))
                return first.path
            }
        }
        let downloader = ModelDownloader(cache: cache, settings: settings)
        do {
            let path = try await pull(reference, downloader: downloader, sha256: sha256, progress: progress)
            await downloader.shutdown()
            return path
        } catch {
            await downloader.shutdown()
            throw error
        }
    }

    func pull(_ reference: ModelReference, downloader: ModelDownloader, sha256: String?,
              progress: PullProgressHandler?) async throws -> String {
        switch reference {
        case .file(let path):
            return path
        case .huggingFace(let repo, let file?, _, let revision):
            return try await pullModelFiles(repo: repo, file: file, revision: revision, sha256: sha256,
                                            downloader: downloader, progress: progress)
        case .huggingFace(let repo, nil, let quant, let revision):
            let file = try await pickFile(repo: repo, quant: quant, revision: revision, downloader: downloader)
            return try await pullModelFiles(repo: repo, file: file, revision: revision, sha256: sha256,
                                            downloader: downloader, progress: progress)
        case .ollama(let namespace, let name, let tag):
            return try await downloader.pullOllama(namespace: namespace, name: name, tag: tag, progress: progress).path
        }
    }

    /// Pulls `file`, or every shard of the split model it belongs to, and returns the path to load:
    /// llama.cpp opens a split model by its first shard and finds the others beside it, which the
    /// snapshot folder gives. `sha256` checks the file as named.
    private func pullModelFiles(repo: String, file: String, revision: String, sha256: String?,
                                downloader: ModelDownloader, progress: PullProgressHandler?) async throws -> String {
        var paths: [String] = []
        for shard in Self.splitShards(of: file) ?? [file] {
            paths.append(try await downloader.pullHuggingFace(repo: repo, file: shard, revision: revision,
                                                             sha256: shard == file ? sha256 : nil, progress: progress).path)
        }
        return paths[0]
    }

    /// All shards of a split model (`NAME-00001-of-00003.gguf` and on) when `file` is one of them.
    public static func splitShards(of file: String) -> [String]? {
        guard let match = file.wholeMatch(of: #/(.*)-([0-9]{5})-of-([0-9]{5})(\.gguf)/#.ignoresCase()),
              let index = Int(match.2), let count = Int(match.3), (1...count).contains(index) else { return nil }
        return (1...count).map { "\(match.1)-\(String(format: "%05d", $0))-of-\(match.3)\(match.4)" }
    }

    /// The file a quant tag names, as llama.cpp's `-hf repo:QUANT` picks it; offline, from the cached snapshot.
    func pickFile(repo: String, quant: String?, revision: String, downloader: ModelDownloader) async throws -> String {
        let names: [String]
        if settings.offline {
            let commit = cache.commit(repo: repo, ref: revision) ?? revision
            let snapshot = cache.repoDirectory(repo).appendingPathComponent("snapshots").appendingPathComponent(commit)
            names = (FileManager.default.enumerator(atPath: snapshot.path)?.allObjects as? [String]) ?? []
        } else {
            names = try await downloader.listFiles(repo: repo, revision: revision).filter { $0.type == "file" }.map(\.path)
        }
        if let file = Self.pickGGUF(names, quant: quant) { return file }
        if settings.offline && names.isEmpty {
            throw ModelPullError.offline("\(repo)\(quant.map { ":\($0)" } ?? "")", cache: cache.root.path)
        }
        let ggufs = names.filter { $0.lowercased().hasSuffix(".gguf") }
        throw ModelPullError(.noMatchingFile,
                             "\(repo) has no GGUF file\(quant.map { " for quant \($0)" } ?? "")"
                                + (ggufs.isEmpty ? "" : " (its GGUF files: \(ggufs.prefix(12).joined(separator: ", ")))"),
                             recovery: "name the file with --hf-file, or pick one of the quant tags in the file names")
    }

    /// Picks a model GGUF (not a multimodal projector) whose name carries `quant`
    /// (default Q4_K_M, else the first); of a split model, the first shard.
    public static func pickGGUF(_ names: [String], quant: String?) -> String? {
        let models = names.filter { $0.lowercased().hasSuffix(".gguf") && !$0.lowercased().contains("mmproj") }
            .filter { !$0.contains("-of-") || $0.contains("-00001-of-") }
            .sorted()
        func matching(_ tag: String) -> [String] {
            let upper = tag.uppercased()
            return models.filter { name in
                let base = (name.split(separator: "/").last.map(String.init) ?? name).uppercased()
                guard let range = base.range(of: upper) else { return false }
                // The tag must stand alone: Q4_K must not match Q4_K_M.
                let after = base[range.upperBound...].first
                let before = range.lowerBound == base.startIndex ? nil : base[base.index(before: range.lowerBound)]
                return !(after.map { $0.isLetter || $0.isNumber || $0 == "_" } ?? false)
                    && !(before.map { $0.isLetter || $0.isNumber } ?? false)
            }
        }
        if let quant { return matching(quant).min { $0.count < $1.count } }
        return matching("Q4_K_M").first ?? models.first
    }
}

// MARK: Ollama registry

extension ModelDownloader {
    struct OllamaManifest: Decodable {
        struct Layer: Decodable { var mediaType: String; var digest: String; var size: UInt64 }
        var layers: [Layer]
    }

    static let ollamaModelMediaType = "application/vnd.ollama.image.model"

    /// Pulls an Ollama model's GGUF layer into the cache (see `ModelReference.ollamaCacheName`).
    public func pullOllama(namespace: String, name: String, tag: String,
                           progress: PullProgressHandler? = nil) async throws -> URL {
        let (repo, file) = ModelReference.ollamaCacheName(namespace: namespace, name: name, tag: tag)
        let what = "ollama://\(namespace == "library" ? "" : namespace + "/")\(name):\(tag)"
        if settings.offline {
            if let url = cache.cachedFile(repo: repo, file: file, revision: tag) {
                progress?(.finished(path: url.path, downloaded: false))
                return url
            }
            throw ModelPullError.offline(what, cache: cache.root.path)
        }
        let registry = settings.ollamaRegistry
        let manifestURL = try Self.url(registry, path: "/v2/\(namespace)/\(name)/manifests/\(Self.escape(tag))")
        progress?(.resolving(source: manifestURL.absoluteString))
        var request = HTTPClientRequest(url: manifestURL.absoluteString)
        request.headers.add(name: "Accept", value: "application/vnd.docker.distribution.manifest.v2+json")
        let body: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: .seconds(60))
            body = try await response.body.collect(upTo: 4 << 20)
            if response.status.code == 404 {
                throw ModelPullError.notFound("\(what) (model or tag on \(registry.absoluteString))")
            }
            try check(response.status, what: what, page: registry.absoluteString)
        } catch let error as ModelPullError {
            if error.code == .network, let url = cache.cachedFile(repo: repo, file: file, revision: tag) {
                progress?(.finished(path: url.path, downloaded: false))
                return url
            }
            throw error
        } catch {
            if let url = cache.cachedFile(repo: repo, file: file, revision: tag) {
                progress?(.finished(path: url.path, downloaded: false))
                return url
            }
            throw ModelPullError.network(what, Self.describe(error), kept: 0, total: nil)
        }
        let manifestData = Data(body.readableBytesView)
        guard let manifest = try? JSONDecoder().decode(OllamaManifest.self, from: manifestData) else {
            throw ModelPullError(.badResponse, "the manifest of \(what) is not the expected JSON",
                                 recovery: "check OLLAMA_REGISTRY points at an Ollama registry")
        }
        guard let layer = manifest.layers.first(where: { $0.mediaType == Self.ollamaModelMediaType }) else {
            throw ModelPullError(.noMatchingFile, "the manifest of \(what) has no model layer (\(Self.ollamaModelMediaType))",
                                 recovery: "pick another tag; this one carries no GGUF weights")
        }
        guard layer.digest.hasPrefix("sha256:"), Self.isSHA256(String(layer.digest.dropFirst(7))) else {
            throw ModelPullError(.badResponse, "the model layer of \(what) has an unsupported digest \(layer.digest)",
                                 recovery: "only sha256 digests are supported")
        }
        let sha = String(layer.digest.dropFirst(7)).lowercased()
        // The snapshot is named after the manifest, so a re-tagged model gets a new snapshot.
        let manifestSHA = SHA256Hex.of(manifestData)
        let commit = String(manifestSHA.prefix(40))
        let blob = cache.repoDirectory(repo).appendingPathComponent("blobs").appendingPathComponent(sha)
        let blobURL = try Self.url(registry, path: "/v2/\(namespace)/\(name)/blobs/\(layer.digest)")
        let downloaded = try await store(blob: blob, expectedSHA256: sha, size: layer.size, what: what, lockName: sha,
                                         repo: repo, source: blobURL, authorizedHost: nil, progress: progress)
        let snapshot = cache.repoDirectory(repo).appendingPathComponent("snapshots").appendingPathComponent(commit)
            .appendingPathComponent(file)
        try link(snapshot: snapshot, blob: blob, file: file)
        try writeRef(repo: repo, ref: tag, commit: commit)
        progress?(.finished(path: snapshot.path, downloaded: downloaded))
        return snapshot
    }
}

enum SHA256Hex {
    static func of(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
