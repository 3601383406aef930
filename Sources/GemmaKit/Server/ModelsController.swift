import Foundation
import Hummingbird

/// llama-server's router API: `POST /models/load` and `POST /models/unload` (`GET /models` is the
/// OpenAI list, `OpenAIController.models`, with each model's status).
struct ModelsController: Sendable {
    let server: ServerCore

    var endpoints: [Endpoint] {
        [
            Endpoint(.post, "/models/load") { request, _ in try await load(request) },
            Endpoint(.post, "/models/unload") { request, _ in try await unload(request) },
        ]
    }

    struct ModelBody: Decodable {
        var model: String
    }

    /// Loads the model (evicting idle ones if it needs room) and answers once it is loaded.
    func load(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(ModelBody.self, from: request, limit: server.configuration.maxBodySize)
        let host = try server.registry.host(named: body.model)
        _ = try await server.registry.acquire(host, lease: false, explicit: true)
        return JSONBody.response(["success": true])
    }

    /// Unloads the model, freeing its memory; a 409 while requests are using it.
    func unload(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(ModelBody.self, from: request, limit: server.configuration.maxBodySize)
        let host = try server.registry.host(named: body.model)
        guard await server.registry.unload(host) else {
            throw APIError(.conflict, "the model '\(host.modelID)' is answering requests or loading; unload it once they are done", param: "model")
        }
        return JSONBody.response(["success": true])
    }
}
