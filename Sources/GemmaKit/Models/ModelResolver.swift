import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore

/// Turns a `ModelReference` into a local GGUF path: the cached file, or a download into the cache.
///
///     let resolver = ModelResolver(cache: .resolve(environment: env), settings: try .resolve(environment: env))
///     let path = try await resolver.resolve(try ModelReference(model: nil, hfRepo: repo, hfFile: file)) { log($0) }
public struct ModelResolver: Sendable {
    public var cache: HubCache
    public var settings: HubSettings

    public init(cache: HubCache, settings: HubSettings) {
        self.cache = cache; self.settings = settings
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
        if sha256 == nil, case .huggingFace(_, _, _, let revision) = reference, HubCache.isCommit(revision) || settings.offline,
           let path = cachedPath(reference) {
            progress?(.finished(path: path, downloaded: false))
            return path
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

    /// The file a quant tag names, as llama.cpp's `-hf repo:QUANT` picks it; offline, or when the hub
    /// cannot be reached, from the cached snapshot.
    func pickFile(repo: String, quant: String?, revision: String, downloader: ModelDownloader) async throws -> String {
        let names: [String]
        if settings.offline {
            names = cachedFiles(repo: repo, revision: revision)
        } else {
            do {
                names = try await downloader.listFiles(repo: repo, revision: revision).filter { $0.type == "file" }.map(\.path)
            } catch let error as ModelPullError where error.code == .network {
                // As for a named file: without the hub, the cached copy of the ref is still good.
                guard let file = Self.pickGGUF(cachedFiles(repo: repo, revision: revision), quant: quant) else { throw error }
                return file
            }
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

    /// The files of the cached snapshot `revision` (a ref or a commit) points at.
    func cachedFiles(repo: String, revision: String) -> [String] {
        let commit = cache.commit(repo: repo, ref: revision) ?? revision
        let snapshot = cache.repoDirectory(repo).appendingPathComponent("snapshots").appendingPathComponent(commit)
        return (FileManager.default.enumerator(atPath: snapshot.path)?.allObjects as? [String]) ?? []
    }

    /// The cached copy of a Hugging Face `reference` (every shard of a split model), named by file or
    /// picked by quant as `pull` would from the cached snapshot, or of an Ollama name at its tag as
    /// last pulled (or copied); nil when the cache lacks it. At a branch or tag the hub may have
    /// moved on since: `recheck` asks.
    public func cachedPath(_ reference: ModelReference) -> String? {
        if case .ollama(let namespace, let name, let tag) = reference {
            let (repo, file) = ModelReference.ollamaCacheName(namespace: namespace, name: name, tag: tag)
            return cache.cachedFile(repo: repo, file: file, revision: tag)?.path
        }
        guard case .huggingFace(let repo, _, _, let revision) = reference, let name = cachedName(reference) else { return nil }
        let urls = (Self.splitShards(of: name) ?? [name]).map { cache.cachedFile(repo: repo, file: $0, revision: revision) }
        guard let first = urls.first ?? nil, urls.allSatisfy({ $0 != nil }) else { return nil }
        return first.path
    }

    /// The file of a Hugging Face `reference`: named, or picked by its quant from the cached snapshot.
    private func cachedName(_ reference: ModelReference) -> String? {
        guard case .huggingFace(let repo, let file, let quant, let revision) = reference else { return nil }
        return file ?? Self.pickGGUF(cachedFiles(repo: repo, revision: revision), quant: quant)
    }

    /// What the hub says about the branch or tag a cached copy was taken at.
    public enum CacheCheck: Sendable, Equatable {
        /// The hub's ref is still the cached commit.
        case current(commit: String)
        /// The hub's ref moved on: `gemmactl pull` (or the next start without the cached copy) fetches it.
        case moved(ref: String, cached: String?, current: String)
        /// The hub could not be asked (no network, hub down): the cached copy is used as it is.
        case unreachable(reason: String)
    }

    /// Asks the hub whether the cached copy of `reference` is still its ref's; nil when there is
    /// nothing to ask (a commit never moves, offline asks nobody, a reference that is not cached).
    public func recheck(_ reference: ModelReference) async -> CacheCheck? {
        guard !settings.offline, case .huggingFace(let repo, _, _, let revision) = reference, !HubCache.isCommit(revision),
              cachedPath(reference) != nil, let file = cachedName(reference) else { return nil }
        let downloader = ModelDownloader(cache: cache, settings: settings)
        let result: CacheCheck
        do {
            let url = try ModelDownloader.url(settings.endpoint, path: "/\(repo)/resolve/\(ModelDownloader.escape(revision))/\(ModelDownloader.escapePath(file))")
            let metadata = try await downloader.headMetadata(url, what: "\(repo)/\(file)", page: "\(settings.endpoint.absoluteString)/\(repo)")
            let cached = cache.commit(repo: repo, ref: revision)
            if let current = metadata.commit, current != cached {
                result = .moved(ref: revision, cached: cached, current: current)
            } else {
                result = .current(commit: cached ?? revision)
            }
        } catch {
            result = .unreachable(reason: (error as? ModelPullError)?.message ?? "\(error)")
        }
        await downloader.shutdown()
        return result
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
