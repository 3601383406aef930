import Foundation
import Hummingbird
import Logging

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

/// One log line per request (method, path, status, duration; tokens where the handler adds them)
/// and the request metrics. Never logs headers or bodies.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let knownPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let path = request.uri.path
        let endpoint = knownPaths.contains(path) ? path : "other"
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
/// known path with the wrong method, 413 for a body over the limit, 500 for anything unexpected.
struct ErrorShapeMiddleware<Context: RequestContext>: RouterMiddleware {
    let methodsByPath: [String: Set<HTTPRequest.Method>]
    let maxBodySize: Int
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let path = request.uri.path
            switch error.status {
            case .notFound:
                if let methods = methodsByPath[path], !methods.contains(request.method) {
                    var api = APIError(.methodNotAllowed, "\(request.method) is not allowed on \(path); use \(methods.map(\.rawValue).sorted().joined(separator: " or "))")
                    api.headers[.allow] = methods.map(\.rawValue).sorted().joined(separator: ", ")
                    throw api
                }
                throw APIError(.notFound, "no route for \(request.method) \(path)")
            case .contentTooLarge:
                throw APIError(.contentTooLarge, "the request body is larger than the limit of \(maxBodySize) bytes (--max-body-size)")
            default:
                throw APIError(error.status, error.body ?? error.status.reasonPhrase)
            }
        } catch is CancellationError {
            throw APIError(.serviceUnavailable, "the request was cancelled")
        } catch {
            logger.error("unexpected error", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            throw APIError(.internalServerError, "internal error: \(error)")
        }
    }
}
