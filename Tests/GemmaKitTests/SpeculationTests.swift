import Foundation
import Synchronization
import Testing
@testable import GemmaKit

/// Draft-free speculative decoding over real HTTP with the real model: the text is the text of
/// decoding one token a step, drafts are accepted on a prompt that repeats, and the counts reach
/// the timings, /metrics and /slots.
@Suite("Speculative decoding", .serialized)
struct SpeculationTests {
    /// A text the model goes on copying: a list given twice, the third copy begun.
    static let repetitionPrompts: [String] = ["apples, pears and plums", "red, green and blue", "cats, dogs and birds"].map { seed in
        let items = (1...5).map { "Item \($0): \(seed), number \($0 * 7)." }
        let text = items.joined(separator: " ")
        // The third copy breaks off after two items: the model goes on copying.
        return "Copy the list.\n\nList: \(text)\n\nCopy: \(text)\n\nCopy: \(items[0]) \(items[1]) Item 3:"
    }

    /// One `/completion` request: greedy, or sampled with a fixed seed.
    struct Request: Sendable {
        var prompt: String
        var stream: Bool
        var sampled: Bool
        var body: [String: Any] {
            ["prompt": prompt, "n_predict": 48, "stream": stream, "cache_prompt": false,
             "temperature": sampled ? 0.8 : 0, "seed": 42]
        }
    }

    /// The text of one completion and its speculation counts (llama-server's timings.draft_n and draft_n_accepted).
    struct Answer: Sendable, Equatable {
        var content = ""
        var drafted = 0
        var accepted = 0
    }

    static func requests(stream: Bool, sampled: Bool) -> [Request] {
        repetitionPrompts.map { Request(prompt: $0, stream: stream, sampled: sampled) }
    }

    static func complete(_ server: TestServer, _ request: Request) async throws -> Answer {
        let reply = try await server.post("/completion", request.body)
        #expect(reply.status == 200, "\(reply.body)")
        func answer(_ content: String, _ timings: Any?) -> Answer {
            let timings = timings as? [String: Any] ?? [:]
            return Answer(content: content, drafted: timings["draft_n"] as? Int ?? 0, accepted: timings["draft_n_accepted"] as? Int ?? 0)
        }
        guard request.stream else { return answer(reply.object["content"] as? String ?? "", reply.object["timings"]) }
        var content = "", timings: Any?
        for line in reply.body.split(separator: "\n") where line.hasPrefix("data: ") {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] else { continue }
            content += object["content"] as? String ?? ""
            if object["stop"] as? Bool == true { timings = object["timings"] }
        }
        return answer(content, timings)
    }

    /// Every request one at a time, then all at once (so the drafts of several slots share decodes).
    static func run(_ server: TestServer, _ requests: [Request]) async throws -> (alone: [Answer], together: [Answer]) {
        var alone: [Answer] = []
        for request in requests { alone.append(try await complete(server, request)) }
        let together = try await withThrowingTaskGroup(of: (Int, Answer).self) { group in
            for (index, request) in requests.enumerated() {
                group.addTask { (index, try await complete(server, request)) }
            }
            var answers = [Answer](repeating: Answer(), count: requests.count)
            for try await (index, answer) in group { answers[index] = answer }
            return answers
        }
        return (alone, together)
    }

    /// A deterministic server (reference kernels: a row's logits do not depend on its batch), so
    /// texts compare exactly across batch shapes, with speculation as given.
    static func withServer(_ speculation: SpeculationOptions, _ body: @Sendable (TestServer) async throws -> Void) async throws {
        try await TestServer.with(slots: 3, configure: { configuration in
            configuration.engine.context.batchInvariant = true
            configuration.repackWeights = false
            configuration.engine.speculation = speculation
            configuration.engine.promptCache = .off
        }, body)
    }

    /// The texts of the requests on a server that does not speculate.
    static func textsWithoutDrafts(sampled: Bool) async throws -> [String] {
        let expected = Mutex<[String]>([])
        try await Self.withServer(.off) { server in
            var contents: [String] = []
            for request in Self.requests(stream: false, sampled: sampled) {
                let answer = try await Self.complete(server, request)
                #expect(answer.drafted == 0)
                contents.append(answer.content)
            }
            expected.withLock { $0 = contents }
        }
        let wanted = expected.withLock { $0 }
        #expect(wanted.count == 3 && wanted.allSatisfy { !$0.isEmpty }, "\(wanted)")
        return wanted
    }

    /// The default type (ngram-simple) and ngram-mod, greedy and sampled.
    @Test(arguments: [false, true], [SpeculationOptions.automatic.types, ["ngram-mod"]])
    func outputIsTheSameWithAndWithoutDrafts(sampled: Bool, types: [String]) async throws {
        let wanted = try await Self.textsWithoutDrafts(sampled: sampled)
        try await Self.withServer(SpeculationOptions(types: types)) { server in
            for stream in [false, true] {
                let run = try await Self.run(server, Self.requests(stream: stream, sampled: sampled))
                #expect(run.alone.map(\.content) == wanted, "stream \(stream), one at a time")
                #expect(run.together.map(\.content) == wanted, "stream \(stream), together")
                let answers = run.alone + run.together
                #expect(answers.map(\.accepted).reduce(0, +) > 0, "stream \(stream): drafts accepted on a repeating prompt")
                #expect(answers.allSatisfy { $0.accepted <= $0.drafted })
            }
            let metrics = try await server.get("/metrics").body
            let accepted = metrics.split(separator: "\n").first { $0.hasPrefix("llamacpp:spec_decode_num_accepted_tokens_total ") }
            #expect((accepted?.split(separator: " ").last).flatMap { Int($0) } ?? 0 > 0, "\(accepted ?? "no accepted-tokens metric")")
            let slots = try await server.get("/slots").json as? [[String: Any]] ?? []
            #expect(!slots.isEmpty && slots.allSatisfy { $0["speculative"] as? Bool == true })
        }
    }

    /// `-md`: the served model's own file drafts for it (the same vocabulary, so its drafts are
    /// accepted); greedy alone, and sampled behind ngram-simple (as `-md` with the default types). The
    /// draft model's cache follows each slot's tokens across rejected drafts and new prompts.
    @Test(arguments: [(false, ["draft-simple"]), (true, ["ngram-simple", "draft-simple"])])
    func aDraftModelDraftsAndTheTextIsTheSame(sampled: Bool, types: [String]) async throws {
        let wanted = try await Self.textsWithoutDrafts(sampled: sampled)
        try await Self.withServer(SpeculationOptions(types: types, draftModel: TestModel.path)) { server in
            for stream in [false, true] {
                let run = try await Self.run(server, Self.requests(stream: stream, sampled: sampled))
                #expect(run.alone.map(\.content) == wanted, "stream \(stream), one at a time")
                #expect(run.together.map(\.content) == wanted, "stream \(stream), together")
                let answers = run.alone + run.together
                #expect(answers.allSatisfy { $0.drafted > 0 }, "\(answers)")
                #expect(answers.allSatisfy { $0.accepted <= $0.drafted })
                // Greedy, a draft model equal to the served one with batch-invariant kernels drafts
                // exactly what is sampled, if its cache holds the slot's tokens: nearly all accepted.
                let (drafted, accepted) = (answers.map(\.drafted).reduce(0, +), answers.map(\.accepted).reduce(0, +))
                #expect(Double(accepted) >= (sampled ? 0.1 : 0.9) * Double(drafted), "\(accepted) of \(drafted)")
            }
        }
    }

    /// A draft model's weights, cache and compute count in what loading the model is planned to take
    /// (its embeddings context does not: a draft model never embeds).
    @Test func theDraftModelCountsInTheMemoryPlan() throws {
        let context = ContextOptions(contextSize: 4096, sequences: 2)
        var configuration = ServerConfiguration(modelPath: TestModel.path)
        configuration.engine = EngineOptions(context: context)
        let alone = try #require(ModelHost(configuration: configuration).plannedBytes())
        configuration.engine.speculation = SpeculationOptions(types: ["draft-simple"], draftModel: TestModel.path)
        let withDraft = try #require(ModelHost(configuration: configuration).plannedBytes())
        let served = try MemoryPlanner.plan(path: TestModel.path, options: PlanOptions(contextSize: 4096, parallel: 2,
                                                                                       microBatch: context.microBatchSize))
        let draft = try MemoryPlanner.plan(path: TestModel.path, options: PlanOptions(contextSize: 4096, parallel: 2,
                                                                                      microBatch: context.microBatchSize,
                                                                                      servesEmbeddings: false))
        #expect(draft.embeddingsBytes == 0 && served.embeddingsBytes > 0)
        #expect(draft.totalBytes == served.totalBytes - served.embeddingsBytes)
        #expect(withDraft - alone == draft.totalBytes - MemoryPlanner.processBaseBytes)
    }

    @Test func typesReadAsLlamaServerNamesThem() throws {
        #expect(try SpeculationOptions.types(parsing: "ngram-mod") == ["ngram-mod"])
        #expect(try SpeculationOptions.types(parsing: "ngram-simple,ngram-map-k4v") == ["ngram-simple", "ngram-map-k4v"])
        #expect(try SpeculationOptions.types(parsing: "none").isEmpty)
        #expect(throws: EngineError.self) { try SpeculationOptions.types(parsing: "ngram-fast") }
        #expect(try SpeculationOptions.types(parsing: "draft-simple") == ["draft-simple"])
        // Types that need a head gemmactl does not load (MTP, EAGLE3, DFlash).
        #expect(throws: EngineError.self) { try SpeculationOptions.types(parsing: "draft-mtp") }
    }

    @Test func aSlotWhoseDraftsAreRejectedPausesLongerEachTime() {
        var pacing = DraftPacing()
        /// Whether the slot drafts at each of the next `count` steps.
        func next(_ count: Int) -> [Bool] { (0..<count).map { _ in pacing.wantsDraft() } }
        #expect(next(1) == [true])
        pacing.record(drafted: 16, accepted: 0, draftMax: 64)
        #expect(pacing.limit == 1)
        // Sits out two steps, then tries again; the next miss doubles the pause.
        #expect(next(3) == [false, false, true])
        pacing.record(drafted: 1, accepted: 0, draftMax: 64)
        #expect(next(5) == [false, false, false, false, true])
        // A draft that pays ends the pauses, and the limit follows what was accepted.
        pacing.record(drafted: 1, accepted: 1, draftMax: 64)
        #expect(next(1) == [true])
        #expect(pacing.limit == 3)
        for drafted in [3, 7, 15, 31] { pacing.record(drafted: drafted, accepted: drafted, draftMax: 64) }
        #expect(pacing.limit == 63)
        pacing.record(drafted: 63, accepted: 63, draftMax: 64)
        #expect(pacing.limit == 64)
        // Half a draft accepted pays (a verified row costs less than half a step) and shortens the next.
        pacing.record(drafted: 64, accepted: 30, draftMax: 64)
        #expect(next(1) == [true])
        #expect(pacing.limit == 61)
        // A tenth does not.
        pacing.record(drafted: 61, accepted: 6, draftMax: 64)
        #expect(next(3) == [false, false, true])
        #expect(pacing.limit == 13)
    }
}
