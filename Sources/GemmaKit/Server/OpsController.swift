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
            Endpoint(.get, Self.metricsPath) { request, _ in try metrics(model: request.uri.queryParameters["model"].map(String.init)) },
        ]
    }

    /// Served on the API's port and, with --metrics-port, alone on that one.
    static let metricsPath = "/metrics"

    func health() throws -> Response {
        switch server.host.current {
        // With several models the default is unloaded only after it served (evicted or idle): a request reloads it.
        case .ready, .unloaded: return JSONBody.response(["status": "ok"])
        case .loading: throw APIError.loading
        case .failed: throw APIError.modelFailed
        }
    }

    /// For readiness probes, public: 200 while the (default) model is loaded and a slot is free, 503
    /// otherwise. Only a status, never why (no load error, no slot details), since anyone who reaches
    /// the port may ask. With several models, a default model unloaded after it served (evicted, or
    /// idle past --keep-alive) stays ready: the next request for it loads it again. Models a preset
    /// loads at start (`load-on-startup`) are loaded first.
    func ready(withBody: Bool) -> Response {
        let isReady = switch server.host.current {
        case .ready(let loaded): loaded.engine.slots.contains { !$0.isProcessing } && server.registry.startupLoadsDone
        case .unloaded: true
        case .loading, .failed: false
        }
        let body = withBody ? ByteBuffer(bytes: JSONBody.data(["status": isReady ? "ready" : "unavailable"])) : ByteBuffer()
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
        let loaded = try server.loadedModel(named: request.uri.queryParameters["model"].map(String.init))
        let slots = loaded.engine.slots
        // llama-server fails on any value given, even "0".
        if let flag = request.uri.queryParameters["fail_on_no_slot"], !flag.isEmpty,
           !slots.contains(where: { !$0.isProcessing }) {
            throw APIError(.serviceUnavailable, "no slot available", type: "unavailable_error")
        }
        let defaults = server.sampling
        return JSONBody.response(slots.map { slot in
            var state = SlotState(id: slot.id, nCtx: slot.contextSize, speculative: slot.speculative, isProcessing: slot.isProcessing)
            guard slot.taskID >= 0 else { return state }
            let sampling = slot.sampling ?? defaults
            // llama-server clears a slot's counts when its request ends; the cache and the last
            // request's parameters stay.
            let running = slot.isProcessing
            // As llama-server: -1 once the slot is idle, or when the request set no limit.
            let remaining = running ? slot.maxTokens.map { max(0, $0 - slot.decodedTokens) } ?? -1 : -1
            state.idTask = slot.taskID
            state.nPromptTokens = slot.kvTokens
            state.nPromptTokensProcessed = running ? slot.promptTokens - slot.cachedTokens : 0
            state.nPromptTokensCache = running ? slot.cachedTokens : 0
            state.nCachedTokens = slot.cachedTokens
            state.nKVTokens = slot.kvTokens
            state.params = .init(nPredict: slot.maxTokens ?? -1, maxTokens: slot.maxTokens ?? -1, seed: sampling.seed.map { Int($0) } ?? -1,
                                 temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP, minP: sampling.minP,
                                 repeatPenalty: sampling.repeatPenalty, presencePenalty: sampling.presencePenalty,
                                 frequencyPenalty: sampling.frequencyPenalty)
            state.nextToken = [.init(hasNextToken: running, hasNewLine: false, nRemain: remaining, nDecoded: running ? slot.decodedTokens : 0)]
            return state
        })
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
        let loaded = try server.loadedModel(named: request.uri.queryParameters["model"].map(String.init))
        let slots = loaded.engine.slotCount
        guard (0..<slots).contains(id) else {
            throw APIError.badRequest("Invalid slot ID: \(id) is not one of the \(slots) slots (0 to \(slots - 1))", param: "id_slot")
        }
        let result = try await loaded.engine.perform(action, onSlot: id)
        let milliseconds = (result.duration.milliseconds * 1000).rounded() / 1000
        switch action {
        case .save:
            return JSONBody.response(SlotActionAnswer(idSlot: id, filename: filename ?? "", nSaved: result.tokens,
                                                      nWritten: result.bytes, timings: ["save_ms": milliseconds]))
        case .restore:
            return JSONBody.response(SlotActionAnswer(idSlot: id, filename: filename ?? "", nRestored: result.tokens,
                                                      nRead: result.bytes, timings: ["restore_ms": milliseconds]))
        case .erase:
            return JSONBody.response(SlotActionAnswer(idSlot: id, nErased: result.tokens))
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

    /// Prometheus' text format; with --no-metrics a 501, as llama-server without --metrics. The engine
    /// gauges describe the default model, or the one `?model=` names (never loading it).
    func metrics(model: String?) throws -> Response {
        guard server.configuration.metricsEndpoint else {
            throw APIError.notSupported("This server does not support metrics endpoint. Start it with `--metrics`")
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8",
                                        .processStartTimeUnix: String(server.metrics.processStart)],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: server.metrics.render(
                     hosts: server.registry.hosts, selected: try server.registry.host(named: model)))))
    }

    func tokenize(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(TokenizeRequest.self, from: request, limit: server.configuration.maxBodySize)
        let model = try await server.requireModel(named: body.model).model
        let tokens = await ServerCore.offCooperativePool {
            model.tokenize(body.content, addSpecial: body.addSpecial ?? false, parseSpecial: true)
        }
        guard body.withPieces == true else { return JSONBody.response(["tokens": tokens]) }
        return JSONBody.response(["tokens": tokens.map { token in
            let bytes = model.pieceBytes(token, special: true)
            return TokenPiece(id: token, piece: String(validating: bytes, as: UTF8.self).map { .text($0) } ?? .bytes(bytes))
        }])
    }

    func detokenize(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(DetokenizeRequest.self, from: request, limit: server.configuration.maxBodySize)
        let model = try await server.requireModel(named: body.model).model
        if let bad = body.tokens.firstIndex(where: { $0 < 0 || Int($0) >= model.vocabularySize }) {
            throw APIError.badRequest("'tokens[\(bad)]' is \(body.tokens[bad]), outside the vocabulary (0..<\(model.vocabularySize))", param: "tokens")
        }
        return JSONBody.response(["content": model.detokenize(body.tokens, renderSpecial: true)])
    }
}

/// One slot in llama-server's /slots: a slot that never served a request has only `id`, `n_ctx`,
/// `speculative` and `is_processing`; `n_cached_tokens` and `n_kv_tokens` are gemmactl's earlier
/// names, kept for scripts.
struct SlotState: Encodable {
    let id: Int
    let nCtx: Int
    let speculative: Bool
    let isProcessing: Bool
    var idTask: Int?, nPromptTokens: Int?, nPromptTokensProcessed: Int?, nPromptTokensCache: Int?
    var nCachedTokens: Int?, nKVTokens: Int?
    var params: Params?
    var nextToken: [NextToken]?

    init(id: Int, nCtx: Int, speculative: Bool, isProcessing: Bool) {
        self.id = id
        self.nCtx = nCtx
        self.speculative = speculative
        self.isProcessing = isProcessing
    }

    struct Params: Encodable {
        let nPredict: Int, maxTokens: Int, seed: Int, temperature: Double, topK: Int, topP: Double, minP: Double
        let repeatPenalty: Double, presencePenalty: Double, frequencyPenalty: Double
    }

    struct NextToken: Encodable {
        let hasNextToken: Bool, hasNewLine: Bool, nRemain: Int, nDecoded: Int
    }
}

/// A slot action's answer: the members of its action only.
struct SlotActionAnswer: Encodable {
    let idSlot: Int
    var filename: String?
    var nSaved: Int?, nWritten: Int?, nRestored: Int?, nRead: Int?, nErased: Int?
    var timings: [String: Double]?
}

/// A `/tokenize` token with its piece: text, or the bytes when they are not valid UTF-8 alone.
struct TokenPiece: Encodable {
    enum Piece: Encodable {
        case text(String)
        case bytes([UInt8])
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .bytes(let bytes): try container.encode(bytes)
            }
        }
    }
    let id: Token
    let piece: Piece
}

extension HTTPField.Name {
    /// llama-server's header on /metrics: when the process started (see `ServerMetrics.processStart`).
    static let processStartTimeUnix = Self("Process-Start-Time-Unix")!
}
