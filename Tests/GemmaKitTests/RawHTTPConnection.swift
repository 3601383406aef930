import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to a test server, for bytes no HTTP client would send (broken chunked
/// framing, a body cut short) and for going away mid-request. Blocking POSIX calls: use it from
/// a detached task or keep the reads short.
final class RawHTTPConnection: @unchecked Sendable {
    private var descriptor: Int32

    /// Connects to `server`'s listener, whichever address family it bound.
    convenience init(to server: TestServer, readTimeout: Duration = .seconds(30)) throws {
        try self.init(host: server.host, port: server.port, readTimeout: readTimeout)
    }

    init(host: String, port: Int, readTimeout: Duration = .seconds(30)) throws {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let info = found else {
            throw RawHTTPError("\(host) is not a numeric address")
        }
        defer { freeaddrinfo(found) }
        descriptor = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard descriptor >= 0 else { throw RawHTTPError("socket() failed: errno \(errno)") }
        guard connect(descriptor, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            Glibc.close(descriptor)
            throw RawHTTPError("connect() to \(host) port \(port) failed: errno \(errno)")
        }
        var timeout = timeval(tv_sec: Int(readTimeout.components.seconds), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { if descriptor >= 0 { Glibc.close(descriptor) } }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RawHTTPError("send() failed: errno \(errno)") }
            offset += n
        }
    }

    /// Closes the sending side: the server sees the end of the request stream.
    func finishSending() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// Closes the connection, as a client that gives up does.
    func close() {
        Glibc.close(descriptor)
        descriptor = -1
    }

    /// Everything the server sends until it closes the connection (or the read timeout).
    func readAll() -> String {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(descriptor, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data += buffer[..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads until the response head and a `Content-Length` body have arrived (or the timeout).
    func readResponse() -> RawHTTPResponse {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let response = RawHTTPResponse(data), response.isComplete { return response }
            let n = recv(descriptor, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data += buffer[..<n]
        }
        return RawHTTPResponse(data) ?? RawHTTPResponse(status: 0, head: String(decoding: data, as: UTF8.self), body: "", isComplete: false)
    }
}

struct RawHTTPResponse {
    var status: Int
    var head: String
    var body: String
    var isComplete: Bool

    init(status: Int, head: String, body: String, isComplete: Bool) {
        self.status = status; self.head = head; self.body = body; self.isComplete = isComplete
    }

    init?(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        head = String(text[..<split.lowerBound])
        body = String(text[split.upperBound...])
        let parts = head.split(separator: " ", maxSplits: 2)
        status = parts.count >= 2 ? Int(parts[1]) ?? 0 : 0
        let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
        let received = body.utf8.count
        isComplete = length.map { received >= $0 } ?? false
    }

    func header(_ name: String) -> String? {
        head.split(separator: "\r\n").first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) }
    }

    var errorObject: [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["error"] as? [String: Any] ?? [:]
    }
}

struct RawHTTPError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
