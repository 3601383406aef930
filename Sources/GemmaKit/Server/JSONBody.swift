import Foundation
import Hummingbird
import NIOCore

/// The one way the server writes JSON: Codable wire types through one configured encoder (keys
/// sorted, so an answer's text is the same for the same value; slashes unescaped), and reads
/// request bodies.
///
/// Members are named after their properties in snake case (`finishReason` is `finish_reason`), so
/// a wire type needs `CodingKeys` only where a name differs; the keys of a dictionary, which hold
/// the client's own names (a `JSONValue` object, `logit_bias`), are written as they are. A member
/// is left out when its optional value is nil, or written as `null` with `@WrittenAsNull`.
enum JSONBody {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    static func string(_ value: some Encodable) -> String { String(decoding: data(value), as: UTF8.self) }

    /// The wire types hold no non-finite number, so encoding does not fail.
    static func data(_ value: some Encodable) -> Data { (try? encoder.encode(value)) ?? Data("{}".utf8) }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data(value))))
    }

    /// The body's bytes, for a type that passes a member on in the client's own text (`JSONSpans`).
    static let rawBody = CodingUserInfoKey(rawValue: "gemmactl.rawBody")!

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
            let data = Data(buffer: buffer)
            let decoder = JSONDecoder()
            decoder.userInfo[rawBody] = data
            return try decoder.decode(T.self, from: data)
        } catch {
            throw APIError.from(decoding: error)
        }
    }
}
