import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
@testable import GemmaKit

/// Builds small but valid GGUF v3 files for tests.
struct GGUFBuilder {
    var metadata: [(String, UInt32, Data)] = []
    var tensors: [(name: String, dims: [UInt64], type: UInt32)] = []

    static func le<T: FixedWidthInteger>(_ value: T) -> Data { withUnsafeBytes(of: value.littleEndian) { Data($0) } }
    static func string(_ s: String) -> Data { le(UInt64(s.utf8.count)) + Data(s.utf8) }

    mutating func add(_ key: String, u32 value: UInt32) { metadata.append((key, 4, Self.le(value))) }
    mutating func add(_ key: String, string value: String) { metadata.append((key, 8, Self.string(value))) }
    mutating func add(_ key: String, strings: [String]) {
        var data = Self.le(UInt32(8)) + Self.le(UInt64(strings.count))
        for s in strings { data += Self.string(s) }
        metadata.append((key, 9, data))
    }

    /// A gemma3-shaped model: `layers` blocks, F32 tensors so sizes are easy to check.
    static func gemma3(layers: Int = 6, embedding: Int = 64, vocabulary: Int = 32, window: UInt32 = 16) -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", string: "gemma3")
        b.add("general.name", string: "tiny test gemma")
        b.add("general.file_type", u32: 0)
        b.add("gemma3.context_length", u32: 1024)
        b.add("gemma3.block_count", u32: UInt32(layers))
        b.add("gemma3.embedding_length", u32: UInt32(embedding))
        b.add("gemma3.feed_forward_length", u32: UInt32(embedding * 2))
        b.add("gemma3.attention.head_count", u32: 4)
        b.add("gemma3.attention.head_count_kv", u32: 1)
        b.add("gemma3.attention.key_length", u32: 32)
        b.add("gemma3.attention.value_length", u32: 32)
        b.add("gemma3.attention.sliding_window", u32: window)
        b.add("tokenizer.ggml.tokens", strings: (0..<vocabulary).map { "t\($0)" })
        b.add("tokenizer.chat_template", string: "{{ messages }}")
        b.tensors.append(("token_embd.weight", [UInt64(embedding), UInt64(vocabulary)], 0))
        for layer in 0..<layers {
            b.tensors.append(("blk.\(layer).attn_q.weight", [UInt64(embedding), 128], 0))
            b.tensors.append(("blk.\(layer).attn_norm.weight", [UInt64(embedding)], 0))
        }
        return b
    }

    func build() -> Data {
        var data = Data("GGUF".utf8) + Self.le(UInt32(3)) + Self.le(UInt64(tensors.count)) + Self.le(UInt64(metadata.count))
        for (key, type, value) in metadata { data += Self.string(key) + Self.le(type) + value }
        var offset: UInt64 = 0
        var sizes: [UInt64] = []
        for tensor in tensors {
            data += Self.string(tensor.name) + Self.le(UInt32(tensor.dims.count))
            for d in tensor.dims { data += Self.le(d) }
            let size = GGMLType(rawValue: tensor.type).byteCount(elements: tensor.dims.reduce(1, *))!
            data += Self.le(tensor.type) + Self.le(offset)
            sizes.append(size)
            offset += (size + 31) / 32 * 32
        }
        data += Data(count: (32 - data.count % 32) % 32)
        for size in sizes { data += Data(repeating: 0x3c, count: Int(size)) + Data(count: Int((32 - size % 32) % 32)) }
        return data
    }
}

func sha256Hex(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

/// A Hugging Face hub and Ollama registry stand-in on 127.0.0.1, port 0. Downloads are redirected
/// to `localhost` (another host name for the same server) as the hub redirects to its CDN.
final class RegistryStandIn: Sendable {
    struct Log {
        var requests: [(path: String, authorization: String?, range: String?)] = []
        var fullDownloads: [String: Int] = [:]
    }
    struct Config {
        /// repo → file → bytes
        var files: [String: [String: Data]] = [:]
        var gated: Set<String> = []
        var token = "hf_secret"
        var commit = "0123456789abcdef0123456789abcdef01234567"
        /// sha → advertise this etag instead (for checksum errors)
        var wrongETag: [String: String] = [:]
        /// Blobs whose next download is cut after half the bytes.
        var cutOnce: Set<String> = []
        /// Pause between 64 KiB chunks, so concurrent pulls overlap.
        var chunkDelay: Duration = .zero
        /// Ollama: "namespace/name:tag" → GGUF bytes
        var ollama: [String: Data] = [:]
    }

    let config: Mutex<Config>
    let log = Mutex(Log())
    let portBox = Mutex(0)
    var port: Int { portBox.withLock { $0 } }
    var hubURL: URL { URL(string: "http://127.0.0.1:\(port)")! }
    private let task: Mutex<Task<Void, Error>?> = Mutex(nil)

    init(_ config: Config) { self.config = Mutex(config) }

    func start() async throws {
        let started = AsyncStream<Int>.makeStream()
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { [self] request, _ in try await self.respond(request) },
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in started.continuation.yield(channel.localAddress?.port ?? 0) })
        task.withLock { $0 = Task { try await app.runService() } }
        for await port in started.stream { portBox.withLock { $0 = port }; break }
    }

    func stop() async {
        let running = task.withLock { $0 }
        running?.cancel()
        _ = try? await running?.value
    }

    func settings(token: String? = nil, offline: Bool = false, retries: Int = 0) -> HubSettings {
        HubSettings(endpoint: hubURL, ollamaRegistry: hubURL, token: token, offline: offline, retries: retries, retryDelay: 0.01)
    }

    static let linkedEtag = HTTPField.Name("X-Linked-Etag")!
    static let linkedSize = HTTPField.Name("X-Linked-Size")!
    static let repoCommit = HTTPField.Name("X-Repo-Commit")!

    func respond(_ request: Request) async throws -> Response {
        let path = request.uri.path
        log.withLock { $0.requests.append((path, request.headers[.authorization], request.headers[.range])) }
        let config = self.config.withLock { $0 }
        let parts = path.split(separator: "/").map(String.init)
        // /ORG/REPO/resolve/REV/FILE...
        if parts.count >= 5, parts[2] == "resolve" {
            let repo = parts[0] + "/" + parts[1]
            let file = parts[4...].joined(separator: "/")
            guard let files = config.files[repo] else { return Response(status: .notFound) }
            if config.gated.contains(repo), request.headers[.authorization] != "Bearer \(config.token)" {
                return Response(status: .unauthorized)
            }
            guard let data = files[file] else { return Response(status: .notFound) }
            let sha = sha256Hex(data)
            var headers = HTTPFields()
            headers[.location] = "http://localhost:\(port)/cdn/\(sha)"
            headers[Self.linkedEtag] = "\"\(config.wrongETag[sha] ?? sha)\""
            headers[Self.linkedSize] = String(data.count)
            headers[Self.repoCommit] = config.commit
            return Response(status: .found, headers: headers)
        }
        // /api/models/ORG/REPO/tree/REV
        if parts.count == 6, parts[0] == "api", parts[1] == "models", parts[4] == "tree" {
            guard let files = config.files[parts[2] + "/" + parts[3]] else { return Response(status: .notFound) }
            let list = files.keys.sorted().map { name -> [String: Any] in
                let data = files[name]!
                return ["type": "file", "path": name, "size": data.count, "lfs": ["oid": sha256Hex(data), "size": data.count]]
            }
            let json = try JSONSerialization.data(withJSONObject: list)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: json)))
        }
        // /v2/NS/NAME/manifests/TAG and /v2/NS/NAME/blobs/sha256:X
        if parts.count == 5, parts[0] == "v2" {
            let key = parts[1] + "/" + parts[2]
            if parts[3] == "manifests" {
                guard let data = config.ollama[key + ":" + parts[4]] else { return Response(status: .notFound) }
                let manifest: [String: Any] = ["schemaVersion": 2, "layers": [
                    ["mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + String(repeating: "a", count: 64), "size": 10],
                    ["mediaType": "application/vnd.ollama.image.model", "digest": "sha256:" + sha256Hex(data), "size": data.count],
                ]]
                let json = try JSONSerialization.data(withJSONObject: manifest)
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: json)))
            }
            if parts[3] == "blobs" {
                return Response(status: .temporaryRedirect,
                                headers: [.location: "http://localhost:\(port)/cdn/\(parts[4].dropFirst(7))"])
            }
        }
        // /cdn/SHA
        if parts.count == 2, parts[0] == "cdn" {
            let sha = parts[1]
            let all = config.files.values.flatMap(\.values) + Array(config.ollama.values)
            guard let data = all.first(where: { sha256Hex($0) == sha }) else { return Response(status: .notFound) }
            var start = 0
            var status = HTTPResponse.Status.ok
            var headers = HTTPFields()
            if let range = request.headers[.range], range.hasPrefix("bytes="), let from = Int(range.dropFirst(6).dropLast()) {
                start = from
                status = .partialContent
                headers[.contentRange] = "bytes \(from)-\(data.count - 1)/\(data.count)"
            }
            let cut = self.config.withLock { $0.cutOnce.remove(sha) != nil }
            if start == 0 && !cut { log.withLock { $0.fullDownloads[sha, default: 0] += 1 } }
            let body = data.subdata(in: start..<data.count)
            let delay = config.chunkDelay
            return Response(status: status, headers: headers, body: ResponseBody(contentLength: body.count) { writer in
                var offset = 0
                while offset < body.count {
                    if cut && offset >= body.count / 2 { throw CancellationError() }
                    let end = min(body.count, offset + 65536, cut ? max(offset + 1, body.count / 2) : body.count)
                    try await writer.write(ByteBuffer(bytes: body.subdata(in: offset..<end)))
                    offset = end
                    if delay > .zero { try await Task.sleep(for: delay) }
                }
                try await writer.finish(nil)
            })
        }
        return Response(status: .notFound)
    }
}
