import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing
@testable import GemmaKit

/// The gauges an endpoint picker (Gateway API Inference Extension) balances replicas on, observed
/// on the real engine under load.
@Suite("Model-server protocol metrics")
struct ModelServerProtocolTests {
    /// The samples of a Prometheus text body without labels, by metric name.
    static func samples(_ body: String) -> [String: Double] {
        var values: [String: Double] = [:]
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, !parts[0].contains("{"), let value = Double(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }

    /// Set once the test has seen what it wanted: the streams stop reading, which closes their connections.
    final class Release: Sendable {
        let released = Mutex(false)
        var isSet: Bool { released.withLock { $0 } }
        func set() { released.withLock { $0 = true } }
    }

    /// A long streamed completion that reads until `release` is set and then hangs up. Queued requests get
    /// `: ping` comments meanwhile, so every stream notices the release within a ping interval.
    static func stream(on server: TestServer, until release: Release) async throws {
        var request = HTTPClientRequest(url: server.base + "/v1/completions")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer test-key")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"prompt":"1, 2, 3, 4, 5, 6, 7, 8, 9, 10,","max_tokens":1500,"temperature":0,"stream":true}"#))
        let response = try await TestServer.client.execute(request, timeout: .seconds(600))
        #expect(response.status == .ok)
        for try await _ in response.body where release.isSet { break }
    }

    @Test func queueRunningAndKVCacheFollowTheLoad() async throws {
        try await TestServer.with(slots: 2, contextSize: 4096,
                                                configure: { $0.ssePingInterval = .milliseconds(100) }) { server in
            func scrape() async throws -> [String: Double] { Self.samples(try await server.get("/metrics").body) }

            let idle = try await scrape()
            #expect(idle["gemmactl_requests_queued"] == 0)
            #expect(idle["gemmactl_requests_processing"] == 0)
            #expect(idle["gemmactl_kv_cache_usage_ratio"] == 0)
            #expect(idle["gemmactl_kv_cache_block_size_tokens"] == 16)
            #expect(idle["gemmactl_kv_cache_blocks"] == 256)  // 4096 tokens of context in blocks of 16

            // Five requests on two slots: two run, three wait.
            let release = Release()
            let streams = (0..<5).map { _ in Task { try await Self.stream(on: server, until: release) } }
            defer { release.set() }
            var loaded: [String: Double] = [:]
            try await eventually(timeout: .seconds(120)) {
                loaded = try await scrape()
                return loaded["gemmactl_requests_queued"] == 3 && loaded["gemmactl_requests_processing"] == 2
                    && (loaded["gemmactl_kv_cache_usage_ratio"] ?? 0) > 0
            }
            #expect(loaded["gemmactl_slots_busy"] == 2)
            let first = try #require(loaded["gemmactl_kv_cache_usage_ratio"])
            #expect(first < 1)

            // The running requests hold more tokens with every one they generate.
            try await eventually(timeout: .seconds(120)) {
                let now = try await scrape()
                return now["gemmactl_requests_processing"] == 2 && (now["gemmactl_kv_cache_usage_ratio"] ?? 0) > first
            }

            // Clients gone: nothing waits or runs, and the cache counts as free.
            release.set()
            for stream in streams { try await stream.value }
            try await eventually(timeout: .seconds(60)) {
                let drained = try await scrape()
                return drained["gemmactl_requests_queued"] == 0 && drained["gemmactl_requests_processing"] == 0
                    && drained["gemmactl_kv_cache_usage_ratio"] == 0
            }

            // A finished request leaves its tokens in the slot for prefix reuse; they are not in use.
            #expect(try await server.post("/v1/completions", busyRequest(2)).status == 200)
            var after: [String: Double] = [:]
            try await eventually(timeout: .seconds(60)) {  // the answer can go out just before the slot is freed
                after = try await scrape()
                return after["gemmactl_requests_processing"] == 0
            }
            #expect(after["gemmactl_kv_cache_usage_ratio"] == 0)
            #expect((after["gemmactl_kv_cache_tokens"] ?? 0) > 0)
        }
    }
}
