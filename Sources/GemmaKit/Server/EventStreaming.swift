import Foundation
import Hummingbird
import NIOCore

/// Writes a generation as a streamed body: each event becomes zero or more lines, a keep-alive
/// comment goes out when nothing was written for `pingInterval` (gateways cut idle streams), and
/// a client that goes away cancels the generation (leaving the loop ends the event iteration).
struct GenerationStreamer: Sendable {
    let events: AsyncThrowingStream<GenerationEvent, any Error>
    let pingInterval: Duration
    /// The keep-alive line, or nil for formats without comments (NDJSON).
    let ping: String?
    let deadline: ContinuousClock.Instant?

    enum Item: Sendable {
        case event(GenerationEvent)
        case failed(any Error)
        case tick
        case end
    }

    /// Calls `write` for each event (and `onError` for a failure mid-stream) and pings meanwhile.
    func run(writer: inout any ResponseBodyWriter,
             encode: @escaping (GenerationEvent) -> [String],
             onError: (any Error) -> [String]) async throws {
        let (merged, sink) = AsyncStream<Item>.makeStream()
        let events = self.events
        let producer = Task {
            do {
                for try await event in events { sink.yield(.event(event)) }
                sink.yield(.end)
            } catch {
                sink.yield(.failed(error))
            }
            sink.finish()
        }
        let interval = deadline.map { min(pingInterval, max(.milliseconds(50), $0 - .now)) } ?? pingInterval
        let ticker = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: min(interval, .seconds(1)))
                sink.yield(.tick)
            }
        }
        defer {
            producer.cancel()
            ticker.cancel()
        }
        var lastWrite = ContinuousClock.now
        loop: for await item in merged {
            var lines: [String] = []
            switch item {
            case .event(let event):
                lines = encode(event)
            case .failed(let error):
                lines = onError(error)
                try await writeLines(lines, to: &writer)
                break loop
            case .end:
                break loop
            case .tick:
                if let deadline, ContinuousClock.now >= deadline {
                    lines = onError(APIError(.gatewayTimeout, "the request took longer than --request-timeout"))
                    try await writeLines(lines, to: &writer)
                    break loop
                }
                if let ping, ContinuousClock.now - lastWrite >= pingInterval { lines = [ping] }
            }
            if !lines.isEmpty {
                try await writeLines(lines, to: &writer)
                lastWrite = .now
            }
        }
    }

    private func writeLines(_ lines: [String], to writer: inout any ResponseBodyWriter) async throws {
        guard !lines.isEmpty else { return }
        try await writer.write(ByteBuffer(string: lines.joined()))
    }
}

/// JSON encoding shared by the handlers.
enum JSONBody {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    static func string(_ value: some Encodable) -> String {
        (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "{}"
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: string(value))))
    }

    static func response(object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Decodes a request body; errors name the field.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the request body is larger than the limit of \(limit) bytes (--max-body-size)")
        }
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("the request body is empty; send a JSON object") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw APIError.from(decoding: error)
        }
    }
}
