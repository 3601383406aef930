import Foundation
import Hummingbird
import Logging
import NIOHTTP1

/// Requires a valid key (`Authorization: Bearer KEY` or `x-api-key: KEY`) on every path but the
/// public ones; answers 401 with `WWW-Authenticate: Bearer` otherwise.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: APIKeyStore
    let publicPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard keys.isEnabled, !publicPaths.contains(request.uri.path) else { return try await next(request, context) }
        guard let presented = Self.presentedKey(request.headers), keys.accepts(presented) else {
            throw APIError.invalidAPIKey
        }
        return try await next(request, context)
    }

    static func presentedKey(_ headers: HTTPFields) -> String? {
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return headers[.xAPIKey]
    }
}

/// Cross-origin requests from the origins `--cors-origins` names: their preflights (`OPTIONS`
/// with `Access-Control-Request-Method`) are answered without a key, and their answers carry
/// `Access-Control-Allow-Origin`. Any other origin gets no CORS headers, so browsers keep its
/// pages from reading answers; with no origins configured (the default) that is every origin.
struct CrossOriginMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: [String]
    /// Every method some route takes, for `Access-Control-Allow-Methods`.
    let methods: Set<HTTPRequest.Method>

    /// Anthropic's clients send their API version (and betas) with every request.
    static var allowedHeaders: String { "Authorization, Content-Type, x-api-key, anthropic-version, anthropic-beta" }

    func allows(_ origin: String) -> Bool { CrossOriginPolicy.allows(origin, origins: origins) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        let preflight = request.method == .options && request.headers[.accessControlRequestMethod] != nil
        guard allows(origin) else {
            if preflight {
                throw APIError(.forbidden, "cross-origin requests from \(origin) are not allowed; start the server with --cors-origins \(origin) to allow them")
            }
            return try await next(request, context)
        }
        if preflight {
            var headers = corsHeaders(origin)
            headers[.accessControlAllowMethods] = (methods.map(\.rawValue) + ["OPTIONS"]).sorted().joined(separator: ", ")
            headers[.accessControlAllowHeaders] = Self.allowedHeaders
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
        do {
            var response = try await next(request, context)
            response.headers.append(contentsOf: corsHeaders(origin))
            return response
        } catch var error as APIError {
            error.headers.append(contentsOf: corsHeaders(origin))
            throw error
        }
    }

    private func corsHeaders(_ origin: String) -> HTTPFields {
        [.accessControlAllowOrigin: origin, .vary: "Origin"]
    }
}

/// Which origins `--cors-origins` lets in: those it names, any with `*`, and with llama-server's
/// `localhost` any origin whose host is localhost, 127.0.0.1 or ::1 (any scheme and port).
enum CrossOriginPolicy {
    static let keywords: Set<String> = ["*", "localhost"]

    static func allows(_ origin: String, origins: [String]) -> Bool {
        if origins.contains("*") || origins.contains(origin) { return true }
        guard origins.contains("localhost"), let host = URLComponents(string: origin)?.host else { return false }
        return ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host)
    }
}

/// One log line per request (method, path, status, duration; tokens where the handler adds them)
/// and the request metrics. Never logs headers or bodies.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let path = request.uri.path
        let endpoint = routes.metricLabel(path)
        func log(_ status: Int) {
            let duration = ContinuousClock.now - started
            metrics.recordRequest(endpoint: endpoint, status: status, duration: duration)
            context.logger.info("request", metadata: [
                "method": "\(request.method)", "path": "\(path)", "status": "\(status)",
                "duration_ms": "\(Int(duration.milliseconds))",
            ])
        }
        do {
            let response = try await next(request, context)
            log(Int(response.status.code))
            return response
        } catch let error as any HTTPResponseError {
            log(Int(error.status.code))
            throw error
        } catch {
            log(500)
            throw error
        }
    }
}

/// Turns Hummingbird's own errors into the API's error shape: 404 for an unknown path, 405 for a
/// known path with the wrong method, 413 for a body over the limit (at once, unread, when its
/// Content-Length says so), 400 for a body whose HTTP framing is broken, and a 500 that says no
/// more than that for anything unexpected (the detail goes to the log).
struct ErrorShapeMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable
    let maxBodySize: Int
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > maxBodySize {
            var api = Self.tooLarge(maxBodySize)
            // The body stays unread: the connection closes after the answer.
            api.headers[.connection] = "close"
            throw api
        }
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let path = request.uri.path
            switch error.status {
            case .notFound:
                if let methods = routes.methods(at: path), !methods.contains(request.method) {
                    var api = APIError(.methodNotAllowed, "\(request.method) is not allowed on \(path); use \(methods.map(\.rawValue).sorted().joined(separator: " or "))")
                    api.headers[.allow] = methods.map(\.rawValue).sorted().joined(separator: ", ")
                    throw api
                }
                throw APIError(.notFound, "no route for \(request.method) \(path)")
            case .contentTooLarge:
                throw Self.tooLarge(maxBodySize)
            default:
                throw APIError(error.status, error.body ?? error.status.reasonPhrase)
            }
        } catch let error as HTTPParserError {
            var api = APIError.badRequest("the request is not valid HTTP/1.1: \(Self.describe(error))")
            api.headers[.connection] = "close"
            throw api
        } catch {
            let api = APIError(error)
            if api.status == .internalServerError {
                logger.error("unexpected error", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            throw api
        }
    }

    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, "the request body is larger than the limit of \(limit) bytes (--max-body-size)")
    }

    /// What was wrong with the framing, in a client's words.
    static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .invalidChunkSize: "a chunk size of the chunked body is not a valid hexadecimal number, or is too large"
        case .invalidEOFState, .closedConnection: "the connection ended before the whole body (Content-Length or chunked) arrived"
        case .lfExpected, .strictModeAssertion, .invalidConstant: "a chunk of the chunked body does not end with CRLF"
        case .invalidContentLength, .unexpectedContentLength: "the Content-Length header is not valid for this request"
        case .headerOverflow: "the request headers are too large"
        case .invalidHeaderToken, .invalidCharactersUsed: "a header has characters HTTP does not allow"
        default: "the body's framing could not be parsed"
        }
    }
}
