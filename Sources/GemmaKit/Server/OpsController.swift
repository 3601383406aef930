import Foundation
import Hummingbird
import NIOCore

/// Health, readiness, slots, metrics, tokenize and detokenize.
struct OpsController: Sendable {
    let server: ServerCore

    var endpoints: [Endpoint] {
        var endpoints: [Endpoint] = []
        for path in ["/health", "/v1/health"] {
            endpoints.append(Endpoint(.get, path, isPublic: true) { _, _ in try health() })
            // HEAD as GET without the body, for probes that send HEAD.
            endpoints.append(Endpoint(.head, path, isPublic: true) { _, _ in
                var response = try health()
                response.body = ResponseBody()
                return response
            })
        }
        return endpoints + [
            Endpoint(.get, "/ready", isPublic: true) { _, _ in ready(withBody: true) },
            Endpoint(.head, "/ready", isPublic: true) { _, _ in ready(withBody: false) },
            Endpoint(.get, "/slots") { request, _ in try slots(request) },
            Endpoint(.post, "/tokenize") { request, _ in try await tokenize(request) },
            Endpoint(.post, "/detokenize") { request, _ in try await detokenize(request) },
            Endpoint(.get, "/metrics") { _, _ in metrics() },
        ]
    }

    func health() throws -> Response {
        switch server.host.current {
        case .ready: return JSONBody.response(object: ["status": "ok"])
        case .loading: throw APIError.loading
        case .failed: throw APIError.modelFailed
        }
    }

    /// For readiness probes, public: 200 while the model is loaded and a slot is free, 503 otherwise. Only a
    /// status, never why (no load error, no slot details), since anyone who reaches the port may ask.
    func ready(withBody: Bool) -> Response {
        let isReady = switch server.host.current {
        case .ready(let loaded): loaded.engine.slots.contains { !$0.isProcessing }
        case .loading, .failed: false
        }
        let body = withBody ? ByteBuffer(string: isReady ? "{\"status\":\"ready\"}" : "{\"status\":\"unavailable\"}") : ByteBuffer()
        return Response(status: isReady ? .ok : .serviceUnavailable,
                        headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: ResponseBody(byteBuffer: body))
    }

    /// llama-server's /slots shape, so tools written for it work.
    func slots(_ request: Request) throws -> Response {
        guard server.configuration.slotsEndpoint else {
            throw APIError.notSupported("This server does not support slots endpoint. Start it with `--slots`")
        }
        let loaded = try server.requireModel()
        let slots = loaded.engine.slots
        if request.uri.queryParameters["fail_on_no_slot"].map({ $0 == "1" || $0 == "true" }) == true,
           !slots.contains(where: { !$0.isProcessing }) {
            throw APIError(.serviceUnavailable, "no slot available", type: "unavailable_error")
        }
        let defaults = SamplingParameters()
        let objects: [[String: Any]] = slots.map { slot in
            let sampling = slot.sampling ?? defaults
            let remaining = slot.maxTokens.map { max(0, $0 - slot.decodedTokens) } ?? -1
            return [
                "id": slot.id, "id_task": slot.taskID, "n_ctx": slot.contextSize, "speculative": false,
                "is_processing": slot.isProcessing, "n_prompt_tokens": slot.promptTokens,
                "n_cached_tokens": slot.cachedTokens, "n_kv_tokens": slot.kvTokens,
                "params": [
                    "n_predict": slot.maxTokens ?? -1, "seed": sampling.seed.map { Int($0) } ?? -1,
                    "temperature": sampling.temperature, "top_k": sampling.topK, "top_p": sampling.topP,
                    "min_p": sampling.minP, "repeat_penalty": sampling.repeatPenalty,
                    "presence_penalty": sampling.presencePenalty, "frequency_penalty": sampling.frequencyPenalty,
                ],
                "next_token": [
                    "has_next_token": slot.isProcessing, "n_remain": remaining, "n_decoded": slot.decodedTokens,
                ],
            ]
        }
        return JSONBody.response(object: objects)
    }

    func metrics() -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: server.metrics.render(host: server.host))))
    }

    func tokenize(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(TokenizeRequest.self, from: request, limit: server.configuration.maxBodySize)
        let model = try server.requireModel().model
        let tokens = await ServerCore.offCooperativePool {
            model.tokenize(body.content, addSpecial: body.addSpecial ?? false, parseSpecial: true)
        }
        if body.withPieces == true {
            let pieces: [[String: Any]] = tokens.map { token in
                let bytes = model.pieceBytes(token, special: true)
                if let text = String(validating: bytes, as: UTF8.self) { return ["id": token, "piece": text] }
                return ["id": token, "piece": bytes]
            }
            return JSONBody.response(object: ["tokens": pieces])
        }
        return JSONBody.response(object: ["tokens": tokens])
    }

    func detokenize(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(DetokenizeRequest.self, from: request, limit: server.configuration.maxBodySize)
        let model = try server.requireModel().model
        if let bad = body.tokens.firstIndex(where: { $0 < 0 || Int($0) >= model.vocabularySize }) {
            throw APIError.badRequest("'tokens[\(bad)]' is \(body.tokens[bad]), outside the vocabulary (0..<\(model.vocabularySize))", param: "tokens")
        }
        return JSONBody.response(object: ["content": model.detokenize(body.tokens, renderSpecial: true)])
    }
}
