import Foundation
import Synchronization
import Testing
@testable import GemmaKit

@Suite("Model pull against a hub and registry stand-in")
struct ModelPullTests {
    static let repo = "test-org/tiny-GGUF"
    static let file = "tiny-Q4_K_M.gguf"
    static let model = GGUFBuilder.gemma3().build()

    func withStandIn(_ configure: (inout RegistryStandIn.Config) -> Void = { _ in },
                     _ body: (RegistryStandIn, HubCache) async throws -> Void) async throws {
        var config = RegistryStandIn.Config()
        config.files[Self.repo] = [Self.file: Self.model, "tiny-Q8_0.gguf": GGUFBuilder.gemma3(layers: 2).build(),
                                   "mmproj-tiny-Q4_K_M.gguf": Data("x".utf8), "README.md": Data("# hi".utf8)]
        configure(&config)
        let server = RegistryStandIn(config)
        try await server.start()
        let directory = TemporaryDirectory()
        do {
            try await body(server, HubCache(root: directory.url.appendingPathComponent("hub")))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    func pull(_ reference: ModelReference, _ server: RegistryStandIn, _ cache: HubCache, token: String? = nil,
              offline: Bool = false, retries: Int = 0, events: EventLog? = nil) async throws -> String {
        try await ModelResolver(cache: cache, settings: server.settings(token: token, offline: offline, retries: retries))
            .resolve(reference) { event in events?.append(event) }
    }

    func pullError(_ reference: ModelReference, _ server: RegistryStandIn, _ cache: HubCache,
                   token: String? = nil, offline: Bool = false) async -> ModelPullError? {
        do {
            _ = try await pull(reference, server, cache, token: token, offline: offline)
            return nil
        } catch let error as ModelPullError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    static var reference: ModelReference { .huggingFace(repo: repo, file: file, quant: nil, revision: "main") }

    @Test func pullWritesTheHubCacheLayout() async throws {
        try await withStandIn { server, cache in
            let path = try await pull(Self.reference, server, cache)
            let sha = sha256Hex(Self.model)
            let repoDir = cache.repoDirectory(Self.repo)
            let commit = server.config.withLock { $0.commit }
            #expect(path == repoDir.path + "/snapshots/\(commit)/\(Self.file)")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: path) == "../../blobs/\(sha)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Self.model)
            #expect(try String(contentsOf: repoDir.appendingPathComponent("refs/main"), encoding: .utf8) == commit)
            #expect(!FileManager.default.fileExists(atPath: repoDir.path + "/blobs/\(sha).incomplete"))
            // A second resolve is served from the cache without downloading again.
            #expect(try await pull(Self.reference, server, cache) == path)
            #expect(server.log.withLock { $0.fullDownloads[sha] } == 1)
        }
    }

    @Test func tokenGoesToTheHubButNotToTheRedirectedHost() async throws {
        try await withStandIn({ $0.gated = [Self.repo] }) { server, cache in
            _ = try await pull(Self.reference, server, cache, token: "hf_secret")
            let requests = server.log.withLock { $0.requests }
            let hub = requests.filter { $0.path.contains("/resolve/") }
            let cdn = requests.filter { $0.path.hasPrefix("/cdn/") }
            #expect(!hub.isEmpty && hub.allSatisfy { $0.authorization == "Bearer hf_secret" })
            #expect(!cdn.isEmpty && cdn.allSatisfy { $0.authorization == nil })
        }
    }

    @Test func gatedWithoutTokenIsUnauthorized() async throws {
        try await withStandIn({ $0.gated = [Self.repo] }) { server, cache in
            let error = await pullError(Self.reference, server, cache)
            #expect(error?.code == .unauthorized)
            #expect(error?.recovery?.contains("HF_TOKEN") == true)
            let wrong = await pullError(Self.reference, server, cache, token: "hf_wrong")
            #expect(wrong?.code == .unauthorized)
        }
    }

    @Test func missingRepoOrFileIsNotFoundWithTheName() async throws {
        try await withStandIn { server, cache in
            let file = await pullError(.huggingFace(repo: Self.repo, file: "nope.gguf", quant: nil, revision: "main"), server, cache)
            #expect(file?.code == .notFound)
            #expect(file?.message.contains("nope.gguf") == true)
            let repo = await pullError(.huggingFace(repo: "test-org/missing", file: "a.gguf", quant: nil, revision: "main"), server, cache)
            #expect(repo?.code == .notFound)
            #expect(repo?.message.contains("test-org/missing") == true)
        }
    }

    @Test func wrongChecksumRemovesThePartialData() async throws {
        let sha = sha256Hex(Self.model)
        try await withStandIn({ $0.wrongETag[sha] = String(repeating: "b", count: 64) }) { server, cache in
            let error = await pullError(Self.reference, server, cache)
            #expect(error?.code == .checksumMismatch)
            let blobs = cache.repoDirectory(Self.repo).appendingPathComponent("blobs")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: blobs.path)) ?? []).isEmpty)
            #expect(cache.cachedFile(repo: Self.repo, file: Self.file) == nil)
        }
    }

    @Test func fileLargerThanTheFreeDiskSpaceIsRefusedBeforeDownloading() async throws {
        let sha = sha256Hex(Self.model)
        try await withStandIn({ $0.advertisedSize[sha] = 1 << 50 }) { server, cache in
            let error = await pullError(Self.reference, server, cache)
            #expect(error?.code == .diskFull)
            #expect(error?.message.contains("not enough disk space") == true)
            #expect(server.log.withLock { $0.requests }.filter { $0.path.hasPrefix("/cdn/") }.count <= 1)
            #expect(cache.cachedFile(repo: Self.repo, file: Self.file) == nil)
        }
    }

    @Test func cutConnectionResumesWithRange() async throws {
        let sha = sha256Hex(Self.model)
        try await withStandIn({ $0.cutOnce = [sha] }) { server, cache in
            // No retries: the pull fails, says it resumes, and keeps the partial file.
            let error = await pullError(Self.reference, server, cache)
            #expect(error?.code == .network)
            #expect(error?.recovery?.contains("resumes") == true)
            let partial = cache.repoDirectory(Self.repo).appendingPathComponent("blobs/\(sha).incomplete")
            let kept = try #require(ModelDownloader.fileSize(partial))
            #expect(kept > 0 && kept < UInt64(Self.model.count))
            // Run again: it asks for the rest only and ends with the right bytes.
            let path = try await pull(Self.reference, server, cache)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Self.model)
            let ranges = server.log.withLock { $0.requests.compactMap(\.range) }
            #expect(!ranges.isEmpty && ranges.allSatisfy { $0 == "bytes=\(kept)-" })
        }
    }

    @Test func retriesWithinOnePullResume() async throws {
        let sha = sha256Hex(Self.model)
        try await withStandIn({ $0.cutOnce = [sha] }) { server, cache in
            let events = EventLog()
            let path = try await pull(Self.reference, server, cache, retries: 2, events: events)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Self.model)
            #expect(events.events.contains { $0.isRetrying })
            #expect(events.events.contains { ($0.resumedFrom ?? 0) > 0 })
        }
    }

    @Test func concurrentPullsDownloadOnce() async throws {
        let big = GGUFBuilder.gemma3(layers: 40, embedding: 256, vocabulary: 64).build()
        try await withStandIn({ $0.files[Self.repo]![Self.file] = big; $0.chunkDelay = .milliseconds(20) }) { server, cache in
            async let a = pull(Self.reference, server, cache)
            async let b = pull(Self.reference, server, cache)
            let (first, second) = try await (a, b)
            #expect(first == second)
            #expect(try Data(contentsOf: URL(fileURLWithPath: first)) == big)
            #expect(server.log.withLock { $0.fullDownloads[sha256Hex(big)] } == 1)
        }
    }

    @Test func offlineUsesTheCacheOnly() async throws {
        try await withStandIn { server, cache in
            let missing = await pullError(Self.reference, server, cache, offline: true)
            #expect(missing?.code == .offlineNotCached)
            #expect(server.log.withLock { $0.requests.isEmpty })
            let path = try await pull(Self.reference, server, cache)
            let before = server.log.withLock { $0.requests.count }
            #expect(try await pull(Self.reference, server, cache, offline: true) == path)
            let quant = ModelReference.huggingFace(repo: Self.repo, file: nil, quant: "Q4_K_M", revision: "main")
            #expect(try await pull(quant, server, cache, offline: true) == path)
            #expect(server.log.withLock { $0.requests.count } == before)
        }
    }

    @Test func aBranchIsLookedUpAgainAndAStaleCopyIsReplaced() async throws {
        try await withStandIn { server, cache in
            let first = try await pull(Self.reference, server, cache)
            // The branch moves on the hub: a new commit with new content.
            let moved = "fedcba9876543210fedcba9876543210fedcba98"
            let newModel = GGUFBuilder.gemma3(layers: 3).build()
            server.config.withLock { $0.commit = moved; $0.files[Self.repo]?[Self.file] = newModel }
            let events = EventLog()
            let second = try await pull(Self.reference, server, cache, events: events)
            #expect(second != first)
            #expect(second.contains("/snapshots/\(moved)/"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: second)) == newModel)
            let oldCommit = "0123456789abcdef0123456789abcdef01234567"
            #expect(events.events.contains(.stale(ref: "main", cached: oldCommit, current: moved)))
            #expect(cache.commit(repo: Self.repo, ref: "main") == moved)
            // A commit never moves: pinned to one, the cache answers without the hub.
            let before = server.log.withLock { $0.requests.count }
            let pinned = ModelReference.huggingFace(repo: Self.repo, file: Self.file, quant: nil, revision: moved)
            #expect(try await pull(pinned, server, cache) == second)
            #expect(server.log.withLock { $0.requests.count } == before)
            // Offline, the cached copy of the branch is used as it is, and a missing one is named.
            #expect(try await pull(Self.reference, server, cache, offline: true) == second)
            let missing = await pullError(.huggingFace(repo: Self.repo, file: nil, quant: "Q2_K", revision: "main"), server, cache, offline: true)
            #expect(missing?.message.contains("\(Self.repo)") == true)
            #expect(server.log.withLock { $0.requests.count } == before)
        }
    }

    @Test func aCachedCopyNeedsNoHubAndTheRecheckSaysWhatItFound() async throws {
        try await withStandIn { server, cache in
            let path = try await pull(Self.reference, server, cache)
            let quant = ModelReference.huggingFace(repo: Self.repo, file: nil, quant: "Q4_K_M", revision: "main")
            let resolver = ModelResolver(cache: cache, settings: server.settings())
            #expect(resolver.cachedPath(Self.reference) == path)
            #expect(resolver.cachedPath(quant) == path)
            #expect(resolver.cachedPath(.huggingFace(repo: Self.repo, file: nil, quant: "Q8_0", revision: "main")) == nil)
            #expect(await resolver.recheck(Self.reference) == .current(commit: server.config.withLock { $0.commit }))
            let moved = "fedcba9876543210fedcba9876543210fedcba98"
            server.config.withLock { $0.commit = moved }
            #expect(await resolver.recheck(quant) == .moved(ref: "main", cached: "0123456789abcdef0123456789abcdef01234567", current: moved))
            #expect(await ModelResolver(cache: cache, settings: server.settings(offline: true)).recheck(Self.reference) == nil)

            // The hub goes away: its port is closed. A pull of what is cached answers from the cache and says
            // the hub was not reached, by file or by quant; the re-check reports it.
            await server.stop()
            for reference in [Self.reference, quant] {
                let events = EventLog()
                #expect(try await pull(reference, server, cache, retries: 3, events: events) == path)
                #expect(events.events.contains { if case .hubUnreachable = $0 { true } else { false } })
                #expect(!events.events.contains { $0.isRetrying })
                #expect(events.events.last == .finished(path: path, downloaded: false))
            }
            guard case .unreachable(let reason)? = await resolver.recheck(Self.reference) else {
                Issue.record("the re-check did not report the hub unreachable")
                return
            }
            #expect(reason.contains(Self.repo))
            // What is not cached still needs the hub, and says so.
            let missing = await pullError(.huggingFace(repo: Self.repo, file: "tiny-Q8_0.gguf", quant: nil, revision: "main"), server, cache)
            #expect(missing?.code == .network)
        }
    }

    @Test func quantTagPicksTheFileFromTheTreeAPI() async throws {
        try await withStandIn { server, cache in
            let path = try await pull(.huggingFace(repo: Self.repo, file: nil, quant: "q8_0", revision: "main"), server, cache)
            #expect(path.hasSuffix("/tiny-Q8_0.gguf"))
            let none = await pullError(.huggingFace(repo: Self.repo, file: nil, quant: "IQ2_XS", revision: "main"), server, cache)
            #expect(none?.code == .noMatchingFile)
            #expect(none?.message.contains("tiny-Q4_K_M.gguf") == true)
        }
    }

    @Test func splitModelPullsEveryShardIntoOneSnapshot() async throws {
        let repo = "test-org/split-GGUF"
        let shards = (1...3).map { "big-Q4_K_M-0000\($0)-of-00003.gguf" }
        let contents = [Self.model, Data("shard two".utf8), Data("shard three".utf8)]
        try await withStandIn({ $0.files[repo] = Dictionary(uniqueKeysWithValues: zip(shards, contents)) }) { server, cache in
            // By quant tag: the first shard is picked, and the others are pulled beside it.
            let path = try await pull(.huggingFace(repo: repo, file: nil, quant: "Q4_K_M", revision: "main"), server, cache)
            #expect(path.hasSuffix("/" + shards[0]))
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
            for (shard, data) in zip(shards, contents) {
                #expect(try Data(contentsOf: folder.appendingPathComponent(shard)) == data, "\(shard)")
            }
            // Naming a later shard still gives the first, the one llama.cpp opens; nothing is fetched again.
            let named = ModelReference.huggingFace(repo: repo, file: shards[1], quant: nil, revision: "main")
            #expect(try await pull(named, server, cache) == path)
            #expect(contents.allSatisfy { data in server.log.withLock { $0.fullDownloads[sha256Hex(data)] } == 1 })
            // A shard missing from the cache is fetched again, not taken as complete; until then the
            // shards there are listed one by one.
            try FileManager.default.removeItem(at: folder.appendingPathComponent(shards[2]))
            #expect(cache.listModels().filter { $0.repo == repo }.map(\.file) == Array(shards.prefix(2)))
            #expect(try await pull(named, server, cache) == path)
            #expect(try Data(contentsOf: folder.appendingPathComponent(shards[2])) == contents[2])
            // Listed once, by its first shard, with the shards' sizes summed.
            let listed = cache.listModels().filter { $0.repo == repo }
            #expect(listed.map(\.file) == [shards[0]])
            #expect(listed.first?.shards == 3)
            #expect(listed.first?.size == UInt64(contents.reduce(0) { $0 + $1.count }))
            // Removing the model by its quant tag removes every shard and blob.
            try cache.remove(repo: repo, file: "Q4_K_M")
            #expect(cache.listModels().filter { $0.repo == repo }.isEmpty)
            let blobs = try FileManager.default.contentsOfDirectory(atPath: cache.repoDirectory(repo).appendingPathComponent("blobs").path)
            #expect(blobs.isEmpty)
            // Naming any shard removes the whole model too.
            _ = try await pull(named, server, cache)
            let gone = try cache.remove(repo: repo, file: shards[1])
            #expect(shards.allSatisfy { shard in gone.contains { $0.hasSuffix("/" + shard) } })
            #expect(cache.listModels().filter { $0.repo == repo }.isEmpty)
        }
    }

    @Test func splitShardNamesAreRecognised() {
        #expect(ModelResolver.splitShards(of: "dir/m-Q4_K_M-00002-of-00003.gguf")
                == ["dir/m-Q4_K_M-00001-of-00003.gguf", "dir/m-Q4_K_M-00002-of-00003.gguf", "dir/m-Q4_K_M-00003-of-00003.gguf"])
        #expect(ModelResolver.splitShards(of: "m-00001-of-00001.GGUF") == ["m-00001-of-00001.GGUF"])
        #expect(ModelResolver.splitShards(of: "m-Q4_K_M.gguf") == nil)
        #expect(ModelResolver.splitShards(of: "m-00004-of-00003.gguf") == nil)
        #expect(ModelResolver.splitShards(of: "m-00000-of-00003.gguf") == nil)
    }

    @Test func ollamaModelLayerLandsInTheCache() async throws {
        try await withStandIn({ $0.ollama["library/gemma3:1b"] = Self.model }) { server, cache in
            let reference = try ModelReference.parse("ollama://gemma3:1b")
            let path = try await pull(reference, server, cache)
            #expect(path.contains("/models--ollama-library--gemma3/snapshots/"))
            #expect(path.hasSuffix("/gemma3-1b.gguf"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Self.model)
            #expect(cache.commit(repo: "ollama-library/gemma3", ref: "1b") != nil)
            let missing = await pullError(try ModelReference.parse("ollama://gemma3:9000b"), server, cache)
            #expect(missing?.code == .notFound)
            #expect(cache.listModels().contains { $0.repo == "ollama-library/gemma3" && $0.file == "gemma3-1b.gguf" })
        }
    }

    @Test func unwritableCacheIsAClearError() async throws {
        try await withStandIn { server, cache in
            let blocker = cache.root.deletingLastPathComponent().appendingPathComponent("file")
            try Data("x".utf8).write(to: blocker)
            let error = await pullError(Self.reference, server, HubCache(root: blocker.appendingPathComponent("hub")))
            #expect(error?.code == .cacheNotWritable)
        }
    }

    @Test func modelsListAndRemove() async throws {
        try await withStandIn { server, cache in
            _ = try await pull(Self.reference, server, cache)
            _ = try await pull(.huggingFace(repo: Self.repo, file: "tiny-Q8_0.gguf", quant: nil, revision: "main"), server, cache)
            let models = cache.listModels()
            #expect(models.map(\.file) == ["tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf"])
            #expect(models.map(\.quantization) == ["Q4_K_M", "Q8_0"])
            #expect(models.allSatisfy { $0.repo == Self.repo && $0.revision == "main" })
            #expect(models[0].size == UInt64(Self.model.count))
            try cache.remove(repo: Self.repo, file: "tiny-Q8_0.gguf")
            #expect(cache.listModels().map(\.file) == ["tiny-Q4_K_M.gguf"])
            let blobs = try FileManager.default.contentsOfDirectory(atPath: cache.repoDirectory(Self.repo).path + "/blobs")
            #expect(blobs == [sha256Hex(Self.model)])
            #expect(throws: ModelPullError.self) { try cache.remove(repo: Self.repo, file: "nope.gguf") }
            try cache.remove(repo: Self.repo)
            #expect(cache.listModels().isEmpty)
        }
    }

    @Test func referencesParse() throws {
        #expect(try ModelReference.parse("ollama://gemma3:1b") == .ollama(namespace: "library", name: "gemma3", tag: "1b"))
        #expect(try ModelReference.parse("ollama://me/m") == .ollama(namespace: "me", name: "m", tag: "latest"))
        #expect(try ModelReference.parse("ggml-org/gemma-3-1b-it-GGUF:Q4_K_M", preferRepository: true)
                == .huggingFace(repo: "ggml-org/gemma-3-1b-it-GGUF", file: nil, quant: "Q4_K_M", revision: "main"))
        #expect(try ModelReference.parse("/models/x.gguf") == .file(path: "/models/x.gguf"))
        #expect(try ModelReference(model: nil, hfRepo: "a/b", hfFile: "c.gguf") == .huggingFace(repo: "a/b", file: "c.gguf", quant: nil, revision: "main"))
        #expect(throws: ModelPullError.self) { try ModelReference.parse("ollama://a/b/c:1") }
        #expect(throws: ModelPullError.self) { try ModelReference.parse("not a repo", preferRepository: true) }
        #expect(throws: ModelPullError.self) { try ModelReference(model: "x.gguf", hfRepo: "a/b", hfFile: nil) }
        #expect(ModelResolver.pickGGUF(["m-Q4_K.gguf", "m-Q4_K_M.gguf", "mmproj-Q4_K_M.gguf"], quant: "Q4_K") == "m-Q4_K.gguf")
        #expect(ModelResolver.pickGGUF(["m-Q8_0.gguf", "m-Q4_K_M-00001-of-00002.gguf", "m-Q4_K_M-00002-of-00002.gguf"], quant: nil)
                == "m-Q4_K_M-00001-of-00002.gguf")
    }

    @Test func settingsFromTheEnvironment() throws {
        let directory = TemporaryDirectory()
        let tokenFile = directory.url.appendingPathComponent("token")
        try Data("hf_fromfile\n".utf8).write(to: tokenFile)
        let settings = try HubSettings.resolve(environment: ["HF_ENDPOINT": "http://hub.local:8080/", "HF_TOKEN": "hf_env",
                                                             "HF_HUB_OFFLINE": "1"], tokenFile: tokenFile.path)
        #expect(settings.endpoint.absoluteString == "http://hub.local:8080")
        #expect(settings.token == "hf_fromfile")
        #expect(settings.offline)
        #expect(try HubSettings.resolve(environment: ["HF_TOKEN": "hf_env"]).token == "hf_env")
        #expect(throws: ModelPullError.self) { try HubSettings.resolve(environment: [:], tokenFile: "/nonexistent/token") }
    }
}

final class EventLog: Sendable {
    private let storage = Mutex<[PullEvent]>([])
    func append(_ event: PullEvent) { storage.withLock { $0.append(event) } }
    var events: [PullEvent] { storage.withLock { $0 } }
}

extension PullEvent {
    var isRetrying: Bool {
        if case .retrying = self { return true }
        return false
    }
    var resumedFrom: UInt64? {
        if case .started(_, _, let from) = self { return from }
        return nil
    }
}
