import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An HTTP error that renders itself in OpenAI's shape:
/// `{"error":{"message":…,"type":…,"code":<status>,"param":…}}`, Ollama's `{"error":…}` on /api/*, or
/// Anthropic's `{"type":"error","error":{"type":…,"message":…}}` on /v1/messages.
public struct APIError: HTTPResponseError, ActionableError {
    public let status: HTTPResponse.Status
    public let message: String
    public let type: String
    public let param: String?
    public var recovery: String? { nil }
    var headers: HTTPFields = [:]
    var ollamaShape = false
    /// OpenAI's error code in words (`model_not_found`), given as `code` instead of the status.
    var code: String?
    /// llama-server's members of a context overflow's error object: `n_prompt_tokens` and `n_ctx`.
    var contextOverflow: (promptTokens: Int, contextSize: Int)?

    public init(_ status: HTTPResponse.Status, _ message: String, type: String? = nil, param: String? = nil) {
        self.status = status
        self.message = message
        self.param = param
        self.type = type ?? Self.defaultType(status)
    }

    static func defaultType(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 405: "invalid_request_error"
        case 413: "invalid_request_error"
        case 503: "unavailable_error"
        case 400..<500: "invalid_request_error"
        default: "server_error"
        }
    }

    static func badRequest(_ message: String, param: String? = nil) -> APIError { APIError(.badRequest, message, param: param) }

    static let invalidAPIKey: APIError = {
        var error = APIError(.unauthorized, "Invalid API Key", type: "authentication_error")
        error.headers[.wwwAuthenticate] = "Bearer"
        return error
    }()

    /// llama-server's 501 for an endpoint switched off by a flag; `message` says which flag turns it on.
    static func notSupported(_ message: String) -> APIError { APIError(.notImplemented, message, type: "not_supported_error") }

    static let loading = APIError(.serviceUnavailable, "Loading model", type: "unavailable_error")

    /// A prompt a slot cannot hold, in llama-server's shape: type `exceed_context_size_error`
    /// with the prompt's tokens and the slot's context.
    static func exceedsContext(promptTokens: Int, contextSize: Int) -> APIError {
        var error = APIError(.badRequest, "request (\(promptTokens) tokens) exceeds the available context size (\(contextSize) tokens); "
            + "shorten the prompt, or start the server with a larger --ctx-size or fewer --parallel slots",
            type: "exceed_context_size_error")
        error.contextOverflow = (promptTokens, contextSize)
        return error
    }

    /// What a client sees of an unexpected error; the detail goes to the server's log only.
    static let `internal` = APIError(.internalServerError, "internal server error; the server log has the details")

    /// The model did not load; why is in the server's log (it names files and paths).
    static let modelFailed = APIError(.internalServerError, "the model failed to load; the server log says why")

    /// A model this server does not serve: OpenAI's `model_not_found`, listing those it does.
    static func modelNotFound(_ name: String, available: [String]) -> APIError {
        var error = APIError(.notFound, "The model '\(name)' does not exist on this server; it serves \(available.map { "'\($0)'" }.joined(separator: ", "))",
                             type: "invalid_request_error", param: "model")
        error.code = "model_not_found"
        return error
    }

    /// One model of several failed to load; why is in the server's log. A later request tries again.
    static func modelFailed(_ model: String) -> APIError {
        APIError(.internalServerError, "the model '\(model)' failed to load; the server log says why")
    }

    /// A model that is not loaded: asked about (/props, /slots), or asked for with `--no-models-autoload`.
    static func modelNotLoaded(_ model: String, autoload: Bool) -> APIError {
        let how = autoload ? "a request for it loads it" : "this server loads models only when asked (--no-models-autoload)"
        return APIError(.serviceUnavailable, "the model '\(model)' is not loaded; \(how), as does POST /models/load {\"model\": \"\(model)\"}",
                        type: "unavailable_error", param: "model")
    }

    /// No room to load a model while the loaded ones are busy: 503 with `Retry-After`, naming it.
    static func noRoom(_ model: String, reason: String) -> APIError {
        var error = APIError(.serviceUnavailable, "the model '\(model)' cannot be loaded now: \(reason); retry when a request ends",
                             type: "unavailable_error", param: "model")
        error.headers[.retryAfter] = "5"
        return error
    }

    /// A model larger, as planned, than the whole memory budget: no unloading makes room for it.
    static func neverFits(_ model: String, need: UInt64, budget: UInt64) -> APIError {
        APIError(.serviceUnavailable, "the model '\(model)' needs \(MemoryPlanner.quantity(need + MemoryPlanner.processBaseBytes)) as planned, "
                 + "more than this server's memory budget of \(MemoryPlanner.quantity(budget + MemoryPlanner.processBaseBytes)); "
                 + "it cannot be loaded here", type: "unavailable_error", param: "model")
    }

    /// nginx's 499: the client closed the connection before the answer was ready. Logged and
    /// counted under this status; the client is gone, so nobody reads the body.
    static let clientClosedRequest = APIError(HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"),
                                              "the client closed the connection before the answer was ready", type: "client_closed_request")

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body: Data
        let path = request.uri.path
        if ollamaShape || path.hasPrefix("/api/") {
            body = JSONBody.data(OllamaBody(error: message))
        } else if path == "/v1/messages" || path.hasPrefix("/v1/messages/") {
            body = JSONBody.data(AnthropicErrorBody(self))
        } else {
            body = JSONBody.data(OpenAIBody(error: .init(message: message, type: type, code: code.map { .name($0) } ?? .status(Int(status.code)), param: param,
                                                         nPromptTokens: contextOverflow?.promptTokens, nCtx: contextOverflow?.contextSize)))
        }
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `{"error": {"message": …, "type": …, "code": <status>, "param": …}}`, `param` left out when nil.
    private struct OpenAIBody: Encodable {
        /// The status as a number, or OpenAI's code in words.
        enum Code: Encodable {
            case status(Int)
            case name(String)
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                switch self {
                case .status(let status): try container.encode(status)
                case .name(let name): try container.encode(name)
                }
            }
        }
        struct Detail: Encodable {
            let message: String, type: String, code: Code, param: String?
            let nPromptTokens: Int?, nCtx: Int?
        }
        let error: Detail
    }

    /// Ollama's `{"error": "…"}`.
    private struct OllamaBody: Encodable { let error: String }

    /// What a client sees of `error`, the one mapping from errors to HTTP: API errors as they are,
    /// engine refusals as 400 naming the request field or 503 + Retry-After, a cancelled request
    /// as 503, anything else as `internal` (so no internal text reaches a client). Used by
    /// `ErrorShapeMiddleware` for answers and by the generation pipeline for errors that come
    /// after a stream's 200, so a stream reports a failure as the answer would have.
    ///
    /// `field` names the request field a refused value came from where the engine cannot know
    /// it (a JSON Schema); `fieldPrefix` goes before the fields it names (Ollama's "options.").
    init(_ error: any Error, field: String? = nil, fieldPrefix: String = "") {
        switch error {
        case let api as APIError:
            self = api
        case let engine as EngineError:
            if let refusal = engine.refusal {
                self = APIError(refusal, field: field, fieldPrefix: fieldPrefix)
                return
            }
            switch engine.code {
            case .promptTooLong, .emptyPrompt, .invalidParameter, .templateFailed, .slotFileRejected:
                self = APIError(.badRequest, engine.message)
            case .grammarFailed:
                self = APIError(.badRequest, engine.message, param: "grammar")
            case .queueFull:
                self = APIError(.serviceUnavailable, engine.message, type: "unavailable_error")
                headers[.retryAfter] = "1"
            case .shuttingDown:
                self = APIError(.serviceUnavailable, engine.message, type: "unavailable_error")
                headers[.retryAfter] = "5"
            case .cancelled:
                self = .cancelled
            default:
                self = .internal
            }
        case let pull as ModelPullError:
            self = APIError(pull)
        case is CancellationError:
            self = .cancelled
        default:
            self = .internal
        }
    }

    /// A download's failure, as model management answers it: a volume too small is 507 naming the
    /// sizes, a model the registry lacks 404, a bad name 400, a registry or hub failing 502.
    private init(_ pull: ModelPullError) {
        switch pull.code {
        case .diskFull:
            self.init(HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"),
                      pull.message + "; delete models from the cache (DELETE /api/delete) or give the model volume more space")
        case .notFound, .noMatchingFile:
            self.init(.notFound, pull.message + (pull.recovery.map { "; \($0)" } ?? ""), param: "model")
        case .badReference:
            self.init(.badRequest, pull.message + (pull.recovery.map { "; \($0)" } ?? ""), param: "model")
        case .offlineNotCached:
            self.init(.serviceUnavailable, pull.message, type: "unavailable_error")
        case .cacheNotWritable:
            self.init(.internalServerError, "the model cache is not writable by the server; see its log", type: "server_error")
        default:
            self.init(.badGateway, pull.message, type: "upstream_error")
        }
    }

    /// A request the server stopped before it was answered (it is shutting down, or the task
    /// serving it was cancelled): the same 503 whether or not its stream had begun.
    static let cancelled = APIError(.serviceUnavailable, "the request was cancelled", type: "unavailable_error")

    /// An engine refusal of a request's value, the field named as the API names it.
    private init(_ refusal: EngineError.Refusal, field schemaField: String?, fieldPrefix: String) {
        switch refusal {
        case .outOfRange(let parameter, let value, let requirement):
            let field = fieldPrefix + Self.field(parameter)
            self = .badRequest("'\(field)' must be \(requirement), got \(value)", param: field)
        case .unknownToken(let parameter, let token, let vocabulary):
            let field = fieldPrefix + Self.field(parameter)
            self = .badRequest("'\(field)' holds token \(token), not in the model's vocabulary (0..<\(vocabulary))", param: field)
        case .promptTooLong(let tokens, let limit):
            self = .exceedsContext(promptTokens: tokens, contextSize: limit)
        case .emptyEmbeddingInput(let index):
            self = .badRequest("'input[\(index)]' is empty", param: "input")
        case .embeddingInputTooLong(let index, let tokens, let limit):
            self = .badRequest("'input[\(index)]' is \(tokens) tokens, more than the \(limit) an embedding input may have; shorten it",
                               param: "input")
        case .unusableSchema(let reason):
            let field = schemaField ?? "json_schema"
            self = .badRequest("'\(field)' is not a JSON Schema gemmactl can follow: \(reason)", param: field)
        }
    }

    /// The request field an engine parameter comes from (OpenAI's and llama-server's names).
    static func field(_ parameter: EngineError.RequestParameter) -> String {
        switch parameter {
        case .temperature: "temperature"
        case .topK: "top_k"
        case .topP: "top_p"
        case .minP: "min_p"
        case .repeatPenalty: "repeat_penalty"
        case .presencePenalty: "presence_penalty"
        case .frequencyPenalty: "frequency_penalty"
        case .penaltyLastN: "repeat_last_n"
        case .maxTokens: "max_tokens"
        case .slot: "id_slot"
        case .prompt: "prompt"
        case .logitBias: "logit_bias"
        }
    }

    /// The API error for a request body that did not decode, naming the field.
    static func from(decoding error: any Error) -> APIError {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.reduce("") { result, key in
                if let index = key.intValue { return result + "[\(index)]" }
                return result.isEmpty ? key.stringValue : result + "." + key.stringValue
            }
        }
        switch error {
        case let api as APIError:
            return api
        case DecodingError.typeMismatch(let type, let context):
            let field = path(context.codingPath)
            return badRequest("'\(field)' has the wrong type: expected \(describe(type))", param: field)
        case DecodingError.valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return badRequest("'\(field)' must not be null: expected \(describe(type))", param: field)
        case DecodingError.keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return badRequest("'\(field)' is required", param: field)
        case DecodingError.dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return badRequest("the request body is not valid JSON")
            }
            let field = path(context.codingPath)
            return badRequest("'\(field)': \(context.debugDescription)", param: field)
        default:
            return badRequest("the request body could not be read as the expected JSON")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int32.Type, is UInt32.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is Bool.Type: "a boolean"
        case is [Any].Type: "an array"
        default: "\(type)".contains("Array") ? "an array" : ("\(type)".contains("Dictionary") ? "an object" : "\(type)")
        }
    }
}

extension HTTPField.Name {
    static let retryAfter = Self("Retry-After")!
    static let xAPIKey = Self("x-api-key")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}
