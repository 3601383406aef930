import Foundation

/// One GGUF file in the hub cache, as `gemmactl models` lists it.
public struct CachedModel: Sendable, Equatable, Codable {
    public var repo: String
    public var file: String
    public var size: UInt64
    /// From the file name (e.g. `Q4_K_M`), else from the GGUF header's `general.file_type`.
    public var quantization: String?
    /// Refs pointing at the snapshot (e.g. `main`), else the snapshot's commit.
    public var revision: String
    public var commit: String
    public var path: String
    /// For a split model: how many shards it has (listed once, by its first shard, `size` summed).
    public var shards: Int?

    /// The Ollama name of a model pulled from the Ollama registry (or copied to a name), as
    /// `ModelReference.ollamaCacheName` stores it, when its tag's ref points at this snapshot.
    public var ollamaReference: ModelReference? {
        guard repo.hasPrefix("ollama-"), let slash = repo.firstIndex(of: "/") else { return nil }
        let namespace = String(repo[repo.index(repo.startIndex, offsetBy: "ollama-".count)..<slash])
        let name = String(repo[repo.index(after: slash)...])
        guard file.hasPrefix(name + "-"), file.hasSuffix(".gguf") else { return nil }
        let tag = String(file.dropFirst(name.count + 1).dropLast(5))
        guard revision.split(separator: ",").contains(Substring(tag)) else { return nil }
        return .ollama(namespace: namespace, name: name, tag: tag)
    }
}

extension HubCache {
    /// Every GGUF file of every snapshot in the cache, sorted by repository and file.
    public func listModels() -> [CachedModel] {
        let fileManager = FileManager.default
        guard let folders = try? fileManager.contentsOfDirectory(atPath: root.path) else { return [] }
        var models: [CachedModel] = []
        for folder in folders.sorted() where folder.hasPrefix("models--") {
            guard let repo = Self.repoName(folder: folder) else { continue }
            let directory = root.appendingPathComponent(folder)
            let refs = refsByCommit(directory.appendingPathComponent("refs"))
            let snapshots = directory.appendingPathComponent("snapshots")
            for commit in ((try? fileManager.contentsOfDirectory(atPath: snapshots.path)) ?? []).sorted() {
                let snapshot = snapshots.appendingPathComponent(commit)
                let files = (fileManager.enumerator(atPath: snapshot.path)?.allObjects as? [String]) ?? []
                var sizes: [String: UInt64] = [:]
                for file in files where file.lowercased().hasSuffix(".gguf") {
                    var info = stat()
                    // stat follows the snapshot link to the blob; a dangling link is skipped.
                    if stat(snapshot.appendingPathComponent(file).path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                        sizes[file] = UInt64(info.st_size)
                    }
                }
                for file in sizes.keys.sorted() {
                    var size = sizes[file]!
                    var shardCount: Int?
                    // A complete split model is one row, by its first shard; an incomplete one shows
                    // every shard there is, so it can be seen and removed.
                    if let shards = ModelResolver.splitShards(of: file), shards.allSatisfy({ sizes[$0] != nil }) {
                        guard file == shards[0] else { continue }
                        size = shards.reduce(0) { $0 + sizes[$1]! }
                        shardCount = shards.count
                    }
                    let path = snapshot.appendingPathComponent(file).path
                    let quantization = Self.quantization(fileName: file)
                        ?? (try? ModelSummary(GGUFFile(path: path)))?.fileType
                    models.append(CachedModel(repo: repo, file: file, size: size, quantization: quantization,
                                              revision: refs[commit]?.sorted().joined(separator: ",") ?? commit,
                                              commit: commit, path: path, shards: shardCount))
                }
            }
        }
        return models
    }

    /// Removes a repository (`file` nil) or one file of it from every snapshot, then the blobs no
    /// snapshot links to any more. Returns the paths removed; throws when nothing matched.
    @discardableResult
    public func remove(repo: String, file: String? = nil) throws -> [String] {
        let fileManager = FileManager.default
        let directory = repoDirectory(repo)
        guard fileManager.fileExists(atPath: directory.path) else {
            throw ModelPullError(.notFound, "\(repo) is not in the model cache \(root.path)",
                                 recovery: "list the cached models with `gemmactl models`")
        }
        guard let file else {
            do { try fileManager.removeItem(at: directory) } catch {
                throw ModelPullError.notWritable(root.path, (error as NSError).localizedDescription)
            }
            try? fileManager.removeItem(at: root.appendingPathComponent(".locks").appendingPathComponent(Self.folderName(repo: repo)))
            return [directory.path]
        }
        let entries = listModels().filter { $0.repo == repo }
        // A split model is listed by its first shard; any of its shards names it.
        var matches = entries.filter { $0.file == file || (ModelResolver.splitShards(of: $0.file)?.contains(file) ?? false) }
        if matches.isEmpty, let pick = ModelResolver.pickGGUF(entries.map(\.file), quant: file) {
            matches = entries.filter { $0.file == pick }
        }
        // A split model goes as a whole: its other shards are of no use without the one named
        // (an incomplete one is listed shard by shard).
        let shards = Set(matches.flatMap { ModelResolver.splitShards(of: $0.file) ?? [] })
        matches += entries.filter { shards.contains($0.file) && !matches.contains($0) }
        guard !matches.isEmpty else {
            throw ModelPullError(.notFound, "\(repo) has no cached file \(file) (cached: \(entries.map(\.file).joined(separator: ", ")))",
                                 recovery: "list the cached models with `gemmactl models`")
        }
        var removed: [String] = []
        do {
            for match in matches {
                let snapshot = String(match.path.dropLast(match.file.count))
                let files = match.shards == nil ? [match.file] : ModelResolver.splitShards(of: match.file) ?? [match.file]
                for name in files {
                    try fileManager.removeItem(atPath: snapshot + name)
                    removed.append(snapshot + name)
                }
            }
            // Blobs nothing links to any more.
            let snapshots = directory.appendingPathComponent("snapshots")
            var linked = Set<String>()
            for path in (fileManager.enumerator(atPath: snapshots.path)?.allObjects as? [String]) ?? [] {
                let full = snapshots.appendingPathComponent(path).path
                if let target = try? fileManager.destinationOfSymbolicLink(atPath: full) {
                    linked.insert((target as NSString).lastPathComponent)
                }
            }
            let blobs = directory.appendingPathComponent("blobs")
            for blob in (try? fileManager.contentsOfDirectory(atPath: blobs.path)) ?? [] where !linked.contains(blob) {
                if blob.hasSuffix(".incomplete") { continue }
                try fileManager.removeItem(at: blobs.appendingPathComponent(blob))
                removed.append(blobs.appendingPathComponent(blob).path)
            }
        } catch {
            throw ModelPullError.notWritable(directory.path, (error as NSError).localizedDescription)
        }
        return removed
    }

    /// `models--ORG--REPO` → `ORG/REPO`.
    static func repoName(folder: String) -> String? {
        let rest = folder.dropFirst("models--".count)
        guard let separator = rest.range(of: "--") else { return nil }
        return String(rest[..<separator.lowerBound]) + "/" + String(rest[separator.upperBound...])
    }

    func refsByCommit(_ refs: URL) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for name in (FileManager.default.enumerator(atPath: refs.path)?.allObjects as? [String]) ?? [] {
            let url = refs.appendingPathComponent(name)
            guard let commit = try? String(contentsOf: url, encoding: .utf8) else { continue }
            result[commit.trimmingCharacters(in: .whitespacesAndNewlines), default: []].append(name)
        }
        return result
    }

    /// The quant tag in a file name, e.g. `gemma-3-1b-it-Q4_K_M.gguf` → `Q4_K_M`.
    public static func quantization(fileName: String) -> String? {
        let base = ((fileName as NSString).lastPathComponent as NSString).deletingPathExtension.uppercased()
        let known = ModelSummary.fileTypeNames.values.sorted { $0.count > $1.count }
        for tag in known {
            for separator in ["-", ".", "_"] where base.hasSuffix(separator + tag) || base.contains(separator + tag + "-") {
                return tag
            }
        }
        return nil
    }
}
