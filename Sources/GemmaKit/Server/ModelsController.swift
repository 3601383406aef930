import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle

/// The models themselves over HTTP: llama-server's router API (`POST /models/load`,
/// `POST /models/unload`, `GET /models/sse`; `GET /models` is the OpenAI list,
/// `OpenAIController.models`, with each model's status), and model management, off unless
/// `--allow-model-management`: llama-server's `POST /models` and `DELETE /models`, Ollama's
/// `/api/pull`, `/api/delete` and `/api/copy` (`ModelManagement` does the work).
struct ModelsController: Sendable {
    let server: ServerCore

    var endpoints: [Endpoint] {
        [
            Endpoint(.post, "/models/load") { request, _ in try await load(request) },
            Endpoint(.post, "/models/unload") { request, _ in try await unload(request) },
            Endpoint(.get, "/models/sse") { _, _ in events() },
            Endpoint(.post, "/models") { request, _ in try await download(request) },
            Endpoint(.delete, "/models") { request, _ in
                try delete(named: request.uri.queryParameters["model"].map(String.init), with: try management())
            },
            Endpoint(.post, "/api/pull") { request, _ in try await ollamaPull(request) },
            Endpoint(.delete, "/api/delete") { request, _ in try await ollamaDelete(request) },
            Endpoint(.post, "/api/copy") { request, _ in try await ollamaCopy(request) },
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

    /// llama-server's `/models/sse`: each change to the models (`status_change`, `model_added`,
    /// `model_remove`, `download_*`) as a `data:` line, from now until the client goes or the server
    /// stops (a `: ping` comment on a quiet stream finds a client gone).
    func events() -> Response {
        let format = StreamFormat.serverSentEvents
        let (stream, stop) = server.registry.events.subscribe(pingInterval: server.configuration.ssePingInterval)
        return Response(status: .ok, headers: format.headers, body: ResponseBody { writer in
            // A graceful shutdown waits for open answers: this one ends at once instead of holding it up.
            try await withGracefulShutdownHandler {
                for await event in stream {
                    let text = event.map { format.line(json: JSONBody.string($0)) } ?? format.ping ?? ""
                    try await writer.write(ByteBuffer(string: text))
                }
            } onGracefulShutdown: {
                stop()
            }
            try await writer.finish(nil)
        })
    }

    // MARK: Model management

    /// The management API, or a 403 naming the flag that allows it.
    private func management() throws -> ModelManagement {
        guard server.configuration.allowModelManagement else {
            throw APIError(.forbidden, "model management is off on this server: start it with --allow-model-management "
                           + "(or GEMMA_ALLOW_MODEL_MANAGEMENT=1) to let clients pull, copy and delete models")
        }
        return ModelManagement(server: server)
    }

    /// llama-server's `POST /models {"model": "ORG/REPO[:QUANT]"}`: starts the download into the
    /// shared cache and answers once it has begun (so a volume too small is a 507, not a later
    /// event); `/models/sse` tells its progress and end, after which the model is served.
    func download(_ request: Request) async throws -> Response {
        let management = try management()
        let body = try await JSONBody.decode(ModelBody.self, from: request, limit: server.configuration.maxBodySize)
        let reference: ModelReference
        do {
            reference = try ModelReference.parseRepository(body.model, revision: "main")
        } catch let error as ModelPullError {
            throw APIError(error)
        }
        if let host = try? server.registry.host(exactlyNamed: body.model), host.filePath != nil {
            throw APIError.badRequest("model '\(body.model)' already exists", param: "model")
        }
        let progress = try await management.pull(reference, name: body.model)
        Task { for await _ in progress {} }
        return JSONBody.response(["success": true])
    }

    /// llama-server's `DELETE /models?model=NAME` and the work of Ollama's `/api/delete`.
    func delete(named name: String?, with management: ModelManagement) throws -> Response {
        guard let name, !name.isEmpty else { throw APIError.badRequest("'model' must name the model to delete", param: "model") }
        try management.delete(name)
        return JSONBody.response(["success": true])
    }

    struct PullBody: Decodable {
        var model: String?
        var name: String?
        var stream: Bool?
        var insecure: Bool?
    }

    /// Ollama's `/api/pull`: `NAME[:TAG]` from the Ollama registry, `hf.co/ORG/REPO[:QUANT]` from the
    /// Hugging Face hub. Streamed (the default) as Ollama's progress lines, `{"status":"success"}` last;
    /// a failure before the download begins keeps its status (507 when the volume cannot hold it).
    func ollamaPull(_ request: Request) async throws -> Response {
        let management = try management()
        let body = try await JSONBody.decode(PullBody.self, from: request, limit: server.configuration.maxBodySize)
        guard let text = body.model ?? body.name, !text.isEmpty else {
            throw APIError.badRequest("'model' must name the model to pull, e.g. gemma3:1b or hf.co/ORG/REPO:Q4_K_M", param: "model")
        }
        let (reference, name) = try Self.ollamaReference(text)
        let progress = try await management.pull(reference, name: name)
        guard body.stream ?? true else {
            for await item in progress {
                if case .failed(let error) = item { throw APIError(error) }
            }
            return JSONBody.response(OllamaPullStatus(status: "success"))
        }
        return Response(status: .ok, headers: StreamFormat.ndjson.headers, body: ResponseBody { writer in
            var file = ""
            for await item in progress {
                var lines: [String] = []
                switch item {
                case .event(let event):
                    if case .started(let name, _, _) = event { file = name }
                    lines = Self.ollamaStatus(event, file: file).map { [JSONBody.string($0) + "\n"] } ?? []
                case .served:
                    lines = [JSONBody.string(OllamaPullStatus(status: "writing manifest")) + "\n",
                             JSONBody.string(OllamaPullStatus(status: "success")) + "\n"]
                case .failed(let error):
                    lines = StreamFormat.ndjson.errorLines(APIError(error))
                }
                for line in lines { try await writer.write(ByteBuffer(string: line)) }
            }
            try await writer.finish(nil)
        })
    }

    /// A name as Ollama's pull takes it, and the name the model is then served as.
    static func ollamaReference(_ text: String) throws(APIError) -> (ModelReference, String) {
        do {
            for prefix in ["hf.co/", "huggingface.co/"] where text.lowercased().hasPrefix(prefix) {
                return (try ModelReference.parseRepository(String(text.dropFirst(prefix.count)), revision: "main"), text)
            }
            let reference = try ModelReference.parseOllama(text.hasPrefix("ollama://") ? String(text.dropFirst("ollama://".count)) : text)
            guard case .ollama(let namespace, let name, let tag) = reference else { return (reference, text) }
            return (reference, namespace == "library" ? "\(name):\(tag)" : "\(namespace)/\(name):\(tag)")
        } catch let error as ModelPullError {
            throw APIError(error)
        } catch {
            throw APIError.badRequest("'model' is not a model name", param: "model")
        }
    }

    /// One of Ollama's progress lines for a download event (none for the events Ollama has no line for).
    static func ollamaStatus(_ event: PullEvent, file: String) -> OllamaPullStatus? {
        switch event {
        case .resolving: OllamaPullStatus(status: "pulling manifest")
        case .waiting: OllamaPullStatus(status: "waiting for another download of this file")
        case .started(_, let total, let resumedFrom): OllamaPullStatus(status: "pulling \(file)", total: total, completed: resumedFrom)
        case .progress(let bytes, let total): OllamaPullStatus(status: "pulling \(file)", total: total, completed: bytes)
        case .retrying(let attempt, _): OllamaPullStatus(status: "retrying (attempt \(attempt))")
        case .verifying: OllamaPullStatus(status: "verifying sha256 digest")
        case .stale, .hubUnreachable, .finished: nil
        }
    }

    /// Ollama's `DELETE /api/delete {"model": NAME}`: 200 with no body.
    func ollamaDelete(_ request: Request) async throws -> Response {
        let management = try management()
        let body = try await JSONBody.decode(PullBody.self, from: request, limit: server.configuration.maxBodySize)
        _ = try delete(named: body.model ?? body.name, with: management)
        return Response(status: .ok)
    }

    struct CopyBody: Decodable {
        var source: String
        var destination: String
    }

    /// Ollama's `POST /api/copy {"source", "destination"}`: 200 with no body.
    func ollamaCopy(_ request: Request) async throws -> Response {
        let management = try management()
        let body = try await JSONBody.decode(CopyBody.self, from: request, limit: server.configuration.maxBodySize)
        _ = try management.copy(body.source, to: body.destination)
        return Response(status: .ok)
    }
}

/// One line of Ollama's pull progress.
struct OllamaPullStatus: Encodable {
    var status: String
    var total: UInt64?
    var completed: UInt64?
}
