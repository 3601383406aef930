import Foundation

/// What `render` learns of `model.list` from the local model cache: each file's size, for the check that the
/// model volume holds them all, and the pod's memory plan (the planner of `gemmactl plan -m A -m B`) when every
/// model is there. Render never downloads: a model not in the cache is reported, and what is assumed for it said.
public struct ModelListSizing: Sendable {
    public struct Entry: Sendable {
        public var spec: ModelSpec
        /// The cached GGUF file; nil when the model is not in the local cache.
        public var path: String?
        /// The file's size; nil when it is not in the cache.
        public var bytes: UInt64?
    }

    public var entries: [Entry]
    /// The cache the models were looked up in, named in the notes.
    public var cacheDirectory: String

    /// The share of the volume kept free for the filesystem (ext4 reserves 5% for root; the pod is not root).
    public static let filesystemReserve = 0.05

    /// Looks every model of `model.list` up in `cache`, offline.
    public static func lookUp(_ values: RenderValues, cache: HubCache, environment: [String: String]) async throws -> ModelListSizing {
        let resolver = ModelResolver(cache: cache, settings: try HubSettings.resolve(environment: environment, offline: true))
        var entries: [Entry] = []
        for spec in values.model.specs {
            let reference = try ModelReference.parse(spec.reference, preferRepository: true)
            // Not in the cache (or unreadable there): unknown, which the notes say.
            let path = try? await resolver.resolve(reference)
            let bytes = path.flatMap { path -> UInt64? in
                // The hub cache's snapshot entries are links to blobs: the size is the blob's.
                let file = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
                return (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.uint64Value
            }
            entries.append(Entry(spec: spec, path: path, bytes: bytes))
        }
        return ModelListSizing(entries: entries, cacheDirectory: cache.root.path)
    }

    /// The models not in the local cache.
    public var missing: [Entry] { entries.filter { $0.path == nil } }

    /// Checks that `storage.size` holds every model with the filesystem's reserve; a model whose size is not
    /// known counts as 0, which the returned notes say.
    public func checkVolume(_ values: RenderValues) throws -> [String] {
        let volume = try ByteSize.parse(values.storage.size, field: "storage.size")
        // Two aliases of one file store it once.
        var seen: Set<String> = []
        let known = entries.compactMap { entry -> (String, UInt64)? in
            guard let path = entry.path, let bytes = entry.bytes, seen.insert(path).inserted else { return nil }
            return (entry.spec.name, bytes)
        }
        let sum = known.reduce(0) { $0 + $1.1 }
        let usable = UInt64(Double(volume) * (1 - Self.filesystemReserve))
        if sum > usable {
            let sizes = known.map { "\($0.0) \(ByteSize.format($0.1))" }.joined(separator: " + ")
            let needed = UInt64((Double(sum) / (1 - Self.filesystemReserve)).rounded(.up))
            throw InputError("storage.size \(values.storage.size) cannot hold model.list: \(sizes) = \(ByteSize.format(sum)), and \(Int(Self.filesystemReserve * 100))% of the volume stays free for the filesystem",
                              recovery: "raise the volume, e.g. --set storage.size=\(MemoryPlanner.quantity(needed)) (or more, for models to come)")
        }
        return missing.map { entry in
            "model.list '\(entry.spec)' is not in the local cache (\(cacheDirectory)): its size is unknown and counted as 0 in the storage.size check; run `gemmactl pull \(entry.spec.reference)` here first to check it"
        }
    }

    /// The pod's plan at the values' context, slots and batch, for at most `server.modelsMax` loaded at once
    /// (serve's default when 0); nil when a model is not in the local cache.
    public func plan(_ values: RenderValues) throws -> PodMemoryPlan? {
        guard missing.isEmpty else { return nil }
        var plans: [(spec: ModelSpec, plan: MemoryPlan)] = []
        for entry in entries {
            do {
                plans.append((entry.spec, try MemoryPlanner.plan(path: entry.path ?? "", options: values.planOptions)))
            } catch {
                throw InputError("model.list '\(entry.spec)': \(error.message)", recovery: error.recovery)
            }
        }
        let most = values.server.modelsMax > 0 ? values.server.modelsMax : ServeSettings.modelsMax.defaultValue
        return MemoryPlanner.plan(models: plans, modelsMax: most)
    }
}
