import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Health, readiness, slots and slot actions, metrics, tokenize and detokenize.
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
            Endpoint(.post, "/slots/:id_slot") { request, context in try await slotAction(request, context: context) },
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

    /// llama-server's /slots shape (its pinned version's, field for field), so tools written for
    /// it work: a slot that never served a request has only its id, n_ctx, speculative and
    /// is_processing. `n_cached_tokens` and `n_kv_tokens` are gemmactl's earlier names, kept for
    /// scripts that read them.
    func slots(_ request: Request) throws -> Response {
        guard server.configuration.slotsEndpoint else {
            throw APIError.notSupported("This server does not support slots endpoint. Start it with `--slots`")
        }
        let loaded = try server.requireModel()
        let slots = loaded.engine.slots
        // llama-server fails on any value given, even "0".
        if let flag = request.uri.queryParameters["fail_on_no_slot"], !flag.isEmpty,
           !slots.contains(where: { !$0.isProcessing }) {
            throw APIError(.serviceUnavailable, "no slot available", type: "unavailable_error")
        }
        let defaults = SamplingParameters()
        let objects: [[String: Any]] = slots.map { slot in
            var object: [String: Any] = ["id": slot.id, "n_ctx": slot.contextSize, "speculative": false,
                                         "is_processing": slot.isProcessing]
            guard slot.taskID >= 0 else { return object }
            let sampling = slot.sampling ?? defaults
            // As llama-server: -1 once the slot is idle, or when the request set no limit.
            let remaining = slot.isProcessing ? slot.maxTokens.map { max(0, $0 - slot.decodedTokens) } ?? -1 : -1
            object["id_task"] = slot.taskID
            object["n_prompt_tokens"] = slot.kvTokens
            object["n_prompt_tokens_processed"] = slot.promptTokens - slot.cachedTokens
            object["n_prompt_tokens_cache"] = slot.cachedTokens
            object["n_cached_tokens"] = slot.cachedTokens
            object["n_kv_tokens"] = slot.kvTokens
            object["params"] = [
                "n_predict": slot.maxTokens ?? -1, "max_tokens": slot.maxTokens ?? -1, "seed": sampling.seed.map { Int($0) } ?? -1,
                "temperature": sampling.temperature, "top_k": sampling.topK, "top_p": sampling.topP,
                "min_p": sampling.minP, "repeat_penalty": sampling.repeatPenalty,
                "presence_penalty": sampling.presencePenalty, "frequency_penalty": sampling.frequencyPenalty,
            ] as [String: Any]
            object["next_token"] = [[
                "has_next_token": slot.isProcessing, "has_new_line": false, "n_remain": remaining,
                "n_decoded": slot.decodedTokens,
            ] as [String: Any]]
            return object
        }
        return JSONBody.response(object: objects)
    }

    /// `POST /slots/{id}?action=save|restore|erase`, llama-server's slot actions: files are named
    /// in the body (`{"filename": …}`) and live directly in --slot-save-path. The engine runs the
    /// action on its thread, after the slot's current request if it has one.
    func slotAction(_ request: Request, context: ServeRequestContext) async throws -> Response {
        guard let directory = server.configuration.engine.slotSavePath else {
            throw APIError.notSupported("This server does not support slots action. Start it with `--slot-save-path`")
        }
        guard let id = context.parameters.get("id_slot").flatMap({ Int($0) }) else {
            throw APIError.badRequest("Invalid slot ID: the path must be /slots/<slot number>", param: "id_slot")
        }
        let action: SlotAction
        var filename: String?
        switch request.uri.queryParameters["action"].map(String.init) {
        case "save", "restore":
            let body = try await JSONBody.decode(SlotFileRequest.self, from: request, limit: server.configuration.maxBodySize)
            guard Self.isValidSlotFilename(body.filename) else {
                throw APIError.badRequest("Invalid filename: 'filename' must be a plain file name (no '/', '\\' or '..'), "
                    + "at most 255 bytes, without control characters or :*?\"<>|", param: "filename")
            }
            filename = body.filename
            let file = URL(fileURLWithPath: directory, isDirectory: true).appendingPathComponent(body.filename)
            action = request.uri.queryParameters["action"] == "save" ? .save(to: file) : .restore(from: file)
        case "erase":
            action = .erase
        default:
            throw APIError.badRequest("Invalid action: 'action' must be save, restore or erase", param: "action")
        }
        let loaded = try server.requireModel()
        let result = try await loaded.engine.perform(action, onSlot: id)
        let milliseconds = (result.duration.milliseconds * 1000).rounded() / 1000
        switch action {
        case .save:
            return JSONBody.response(object: ["id_slot": id, "filename": filename ?? "", "n_saved": result.tokens,
                                              "n_written": result.bytes, "timings": ["save_ms": milliseconds]])
        case .restore:
            return JSONBody.response(object: ["id_slot": id, "filename": filename ?? "", "n_restored": result.tokens,
                                              "n_read": result.bytes, "timings": ["restore_ms": milliseconds]])
        case .erase:
            return JSONBody.response(object: ["id_slot": id, "n_erased": result.tokens])
        }
    }

    /// llama.cpp's `fs_validate_filename` without subdirectories: one path component, nothing
    /// that could leave the directory or that some filesystem refuses.
    static func isValidSlotFilename(_ name: String) -> Bool {
        let forbidden: Set<Unicode.Scalar> = [":", "*", "?", "\"", "<", ">", "|", "/", "\\", "\u{FF0E}", "\u{2215}", "\u{2216}",
                                              "\u{FFFD}", "\u{FEFF}"]
        guard !name.isEmpty, name.utf8.count <= 255, name != ".", !name.contains(".."),
              name.first != " ", name.last != " ", name.last != "." else { return false }
        return !name.unicodeScalars.contains { scalar in
            scalar.value <= 0x1F || (0x7F...0x9F).contains(scalar.value) || forbidden.contains(scalar)
        }
    }

    func metrics() -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8",
                                        .processStartTimeUnix: String(server.metrics.processStart)],
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

extension HTTPField.Name {
    /// llama-server's header on /metrics: when the process started (see `ServerMetrics.processStart`).
    static let processStartTimeUnix = Self("Process-Start-Time-Unix")!
}
