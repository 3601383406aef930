import Foundation
import Synchronization
import Testing
@testable import GemmaKit

/// The server's shared layers, each used by every API: one embeddings path, one chat
/// conversation, one mapping from engine errors to API errors, one JSON encoder.
@Suite struct ServerLayerTests {
    // MARK: Embeddings

    /// cls and last pooling are pooled vectors: every pooled API serves them (they answered 400
    /// "Pooling type 'none' is not OAI compatible" once), each its input's first or last token's
    /// state, which the native endpoint gives too.
    @Test(arguments: [EmbeddingPooling.cls, .last])
    func pooledEmbeddingsServeEveryPooling(_ pooling: EmbeddingPooling) async throws {
        try await TestServer.with(slots: 1, configure: { $0.engine.embeddingPooling = pooling }) { server in
            let openAI = try await server.post("/v1/embeddings", ["input": ["Hello world", "Bye"]])
            #expect(openAI.status == 200, "\(openAI.body.prefix(300))")
            let vectors = try #require((openAI.object["data"] as? [[String: Any]])?.compactMap { $0["embedding"] as? [Double] })
            #expect(vectors.count == 2 && vectors.allSatisfy { $0.count == 640 })
            // A causal model's first token is BOS, whose state is the same for every input: cls gives
            // one vector for all (as llama.cpp's own cls pooling does), last one per input.
            #expect((vectors[0] == vectors[1]) == (pooling == .cls))
            for vector in vectors { #expect(abs(vector.reduce(0) { $0 + $1 * $1 }.squareRoot() - 1) < 1e-3) }

            let ollama = try await server.post("/api/embed", ["input": ["Hello world", "Bye"]])
            #expect(ollama.status == 200, "\(ollama.body.prefix(300))")
            #expect(ollama.object["embeddings"] as? [[Double]] == vectors)
            let legacy = try await server.post("/api/embeddings", ["prompt": "Hello world"])
            #expect(legacy.status == 200, "\(legacy.body.prefix(300))")
            #expect(legacy.object["embedding"] as? [Double] == vectors[0])

            let native = try await server.post("/embedding", ["content": "Hello world"])
            let rows = try #require((native.json as? [[String: Any]])?.first?["embedding"] as? [[Double]])
            #expect(rows.count == 1)
            #expect(zip(rows[0], vectors[0]).allSatisfy { abs($0 - $1) < 1e-5 })
        }
    }

    @Test func poolingChangesTheVector() async throws {
        let byPooling = Mutex<[EmbeddingPooling: [Double]]>([:])
        for pooling in [EmbeddingPooling.mean, .cls] {
            try await TestServer.with(slots: 1, configure: { $0.engine.embeddingPooling = pooling }) { server in
                let reply = try await server.post("/v1/embeddings", ["input": "Hello world"])
                let vector = (reply.object["data"] as? [[String: Any]])?.first?["embedding"] as? [Double]
                byPooling.withLock { $0[pooling] = vector }
            }
        }
        let vectors = byPooling.withLock { $0 }
        #expect(vectors[.mean] != nil && vectors[.cls] != nil)
        #expect(vectors[.mean] != vectors[.cls])
    }

    /// One set of limits and one empty-input rule for every embeddings API.
    @Test func everyEmbeddingsAPIHasTheSameLimits() async throws {
        try await TestServer.with(slots: 1) { server in
            let tooMany = Array(repeating: "hi", count: Embeddings.maxInputs + 1)
            for (path, body, field) in [("/v1/embeddings", ["input": tooMany], "input"), ("/api/embed", ["input": tooMany], "input"),
                                        ("/embedding", ["content": tooMany], "content")] as [(String, [String: Any], String)] {
                let reply = try await server.post(path, body)
                #expect(reply.status == 400, "\(path)")
                #expect(reply.body.contains("'\(field)' takes at most \(Embeddings.maxInputs) inputs"), "\(path): \(reply.body)")
            }
            let empty: [(String, [String: Any], String)] = [
                ("/v1/embeddings", ["input": ""], "'input' is empty"), ("/v1/embeddings", ["input": ["a", ""]], "'input[1]' is empty"),
                ("/api/embed", ["input": ""], "'input' is empty"), ("/api/embed", ["input": [String]()], "'input' must not be empty"),
                ("/api/embeddings", ["prompt": ""], "'prompt' is empty"), ("/embedding", ["content": ""], "'content' is empty"),
                ("/v1/embeddings", ["input": [String]()], "'input' must not be empty"),
            ]
            for (path, body, message) in empty {
                let reply = try await server.post(path, body)
                #expect(reply.status == 400, "\(path) \(body)")
                #expect(reply.body.contains(message), "\(path) \(body): \(reply.body)")
            }
            // An input more bytes than the embeddings context could hold is refused before tokenizing.
            let huge = String(repeating: "word ", count: 512 * 200)
            let reply = try await server.post("/api/embed", ["input": huge])
            #expect(reply.status == 400)
            #expect(reply.body.contains("bytes, more than an embedding input"), "\(reply.body.prefix(300))")
            // One that could fit by bytes but takes too many tokens: the engine's refusal, mapped.
            let long = try await server.post("/v1/embeddings", ["input": String(repeating: "hello ", count: 600)])
            #expect(long.status == 400)
            #expect(long.errorMessage.contains("more than the 512 an embedding input may have"), "\(long.body.prefix(300))")
        }
    }

    // MARK: Chat conversation

    @Test func everyChatAPIChecksRolesAndTrailingAssistants() async throws {
        try await TestServer.with(slots: 1) { server in
            let robot = [["role": "robot", "content": "hi"]]
            let openAI = try await server.post("/v1/chat/completions", ["messages": robot, "max_tokens": 1])
            #expect(openAI.status == 400)
            #expect((openAI.object["error"] as? [String: Any])?["param"] as? String == "messages[0].role")
            let ollama = try await server.post("/api/chat", ["messages": robot, "stream": false])
            #expect(ollama.status == 400)
            #expect((ollama.object["error"] as? String ?? "").contains("'messages[0].role' must be system, developer, user, assistant or tool"),
                    "\(ollama.body)")
            let responses = try await server.post("/v1/responses", ["input": [["role": "tool", "content": "x"]]])
            #expect(responses.status == 400)
            #expect((responses.object["error"] as? [String: Any])?["param"] as? String == "input[0].role")

            let twoAssistants = [["role": "user", "content": "hi"], ["role": "assistant", "content": "Hel"],
                                 ["role": "assistant", "content": "lo"]]
            let chat = try await server.post("/v1/chat/completions", ["messages": twoAssistants, "max_tokens": 1])
            #expect(chat.status == 400)
            #expect(chat.errorMessage.contains("2 or more assistant messages"), "\(chat.body)")
            #expect(try await server.post("/api/chat", ["messages": twoAssistants, "stream": false]).status == 400)
            let one = try await server.post("/v1/chat/completions", ["messages": Array(twoAssistants.prefix(2)), "max_tokens": 1])
            #expect(one.status == 200, "\(one.body)")
        }
    }

    @Test func aConversationHoldsAMessage() {
        #expect(throws: APIError.self) { try ChatConversation([ChatConversation.Message](), field: "messages") }
        #expect(throws: APIError.self) { try ChatConversation.role("robot", field: "role") }
        #expect(throws: APIError.self) { try ChatConversation.role("tool", field: "role", allowed: [.user, .assistant]) }
    }

    // MARK: Engine errors

    /// Every engine parameter has its request field, and a refusal names it as `param`.
    @Test func engineRefusalsNameTheRequestField() {
        let fields = EngineError.RequestParameter.allCases.map(APIError.field)
        #expect(Set(fields).count == fields.count && !fields.contains(""))
        let refused = APIError(EngineError(.outOfRange(.topP, value: "1.5", requirement: "between 0 and 1")))
        #expect(refused.status == .badRequest && refused.param == "top_p")
        #expect(refused.message == "'top_p' must be between 0 and 1, got 1.5")
        let ollama = APIError(EngineError(.outOfRange(.penaltyLastN, value: "-3", requirement: "-1 or more")), fieldPrefix: "options.")
        #expect(ollama.param == "options.repeat_last_n")
        let tooLong = APIError(EngineError(.promptTooLong(tokens: 300, limit: 256)))
        #expect(tooLong.type == "exceed_context_size_error" && tooLong.contextOverflow?.promptTokens == 300)
        // The engine's own message names no wire field and no flag.
        for refusal: EngineError.Refusal in [.outOfRange(.maxTokens, value: "-1", requirement: "0 or more"),
                                             .outOfRange(.slot, value: "9", requirement: "between 0 and 1"),
                                             .unknownToken(.logitBias, token: 999_999, vocabulary: 1000), .promptTooLong(tokens: 9, limit: 8)] {
            let message = EngineError(refusal).message
            #expect(!message.contains("_") && !message.contains("--"), "\(message)")
        }
        // An internal failure's text stays in the log.
        #expect(APIError(EngineError(.decodeFailed, "decoding failed: -3")).message == APIError.internal.message)
    }

    @Test func refusedSamplingNamesTheFieldOnEveryAPI() async throws {
        try await TestServer.with(slots: 1) { server in
            let chat = try await server.post("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "top_p": 1.5])
            #expect(chat.status == 400)
            #expect((chat.object["error"] as? [String: Any])?["param"] as? String == "top_p")
            #expect(chat.errorMessage.contains("'top_p' must be between 0 and 1"), "\(chat.body)")
            let ollama = try await server.post("/api/generate", ["prompt": "hi", "stream": false, "options": ["top_p": 1.5]])
            #expect(ollama.status == 400)
            #expect((ollama.object["error"] as? String ?? "").contains("'options.top_p' must be between 0 and 1"), "\(ollama.body)")
        }
    }

    /// A cancelled request is a 503 whether or not its stream had begun: the streamed error line
    /// comes from the same mapping as the answer.
    @Test func cancellationMapsTheSameStreamedOrNot() throws {
        let answer = APIError(CancellationError())
        #expect(answer.status == .serviceUnavailable)
        let line = try #require(StreamFormat.serverSentEvents.errorLines(APIError(CancellationError())).first)
        #expect(line.contains("\"code\":\"503\"") && line.contains(answer.message), "\(line)")
        #expect(APIError(EngineError(.cancelled, "cancelled")).status == .serviceUnavailable)
        #expect(APIError(URLError(.badURL)).status == .internalServerError)
    }

    // MARK: JSON

    @Test func wireJSONNamesMembersInSnakeCaseButKeepsTheClientsKeys() {
        struct Chunk: Encodable {
            let finishReason: String?
            @WrittenAsNull var logprobs: [Double]?
            let toolArguments: JSONValue
        }
        let text = JSONBody.string(Chunk(finishReason: nil, logprobs: nil, toolArguments: .object(["minItems": .integer(1), "$ref": .string("#/a")])))
        #expect(text == ##"{"logprobs":null,"tool_arguments":{"$ref":"#/a","minItems":1}}"##)
    }
}
