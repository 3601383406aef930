import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore

/// Pulls from the Ollama registry into the hub cache.
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
        try cache.link(snapshot: snapshot, blob: blob, file: file)
        try cache.writeRef(repo: repo, ref: tag, commit: commit)
        progress?(.finished(path: snapshot.path, downloaded: downloaded))
        return snapshot
    }
}

enum SHA256Hex {
    static func of(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
