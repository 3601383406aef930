import Foundation
import Testing
@testable import GemmaKit

@Suite("Continuous batching and prompt cache", .serialized)
struct SchedulerTests {
    let model = TestModel.shared

    @Test func concurrentGreedyOutputsMatchSequentialOnes() async throws {
        // "In 1969, the first" starts on a near-tie ("<em>Star" vs "generation") that flipped with
        // ggml's batch-shape-dependent kernels; the long prompt passes 256 cached tokens, where a
        // lone decode row used to take flash attention's split-over-threads path.
        let long = String(repeating: "The history of the world is long and full of surprises. ", count: 28) + "In 1969, the first"
        let prompts = ["The capital of Italy is", "In 1969, the first", "Water boils at", "My favourite fruit is",
                       "The first man on the moon", long, "The quick brown fox", "Kubernetes is"]
        let requests = prompts.map { GenerationRequest(prompt: model.tokenize($0), sampling: .greedy, maxTokens: 24) }
        #expect(requests[5].prompt.count > 300)
        let sequentialEngine = try await TestModel.engine(contextSize: 1024, slots: 1)
        var sequential: [String] = []
        for request in requests { sequential.append(try await sequentialEngine.complete(request).text) }
        await sequentialEngine.shutdown()

        // More requests than slots: prompts share batches with other slots' prompts and decodes,
        // and slots are reused with other cached prefixes.
        try await TestModel.engine(contextSize: 4096, slots: 4, deterministic: true).use { engine in
            let concurrent = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for (index, request) in requests.enumerated() {
                    group.addTask { (index, try await engine.complete(request).text) }
                }
                var results = [String](repeating: "", count: requests.count)
                for try await (index, text) in group { results[index] = text }
                return results
            }
            for index in prompts.indices {
                #expect(concurrent[index] == sequential[index], "prompt \(index) differs under concurrency")
            }
        }
    }

    #if os(Linux)
    @Test func engineThreadsAreNamedForTheOS() async throws {
        try await TestModel.engine(contextSize: 512, slots: 1).use { engine in
            // One decode so ggml's worker threads exist too; they inherit the engine thread's name.
            _ = try await engine.complete(GenerationRequest(prompt: model.tokenize("Hello"), sampling: .greedy, maxTokens: 1))
            let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
            let names = tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            #expect(names.filter { $0 == "gemmactl-engine" }.count >= 1, "thread names: \(names)")
        }
    }
    #endif

    @Test func repeatedPromptReusesTheCachedPrefix() async throws {
        try await TestModel.engine(contextSize: 2048, slots: 2).use { engine in
            let history = String(repeating: "User: tell me about the weather.\nAssistant: It is sunny and warm today.\n", count: 8)
            let first = try await engine.complete(GenerationRequest(prompt: model.tokenize(history + "User: and tomorrow?"), sampling: .greedy, maxTokens: 8))
            #expect(first.stats?.cachedTokens == 0)
            let followUp = model.tokenize(history + "User: and next week?")
            let second = try await engine.complete(GenerationRequest(prompt: followUp, sampling: .greedy, maxTokens: 8))
            let shared = Scheduler.commonPrefixLength(model.tokenize(history + "User: and tomorrow?"), followUp)
            #expect(shared > 100)
            #expect(second.stats?.cachedTokens == shared)
            // The same prompt again: all but the last token comes from the cache, and the output is the same.
            let third = try await engine.complete(GenerationRequest(prompt: followUp, sampling: .greedy, maxTokens: 8))
            #expect(third.stats?.cachedTokens == followUp.count - 1)
            #expect(third.text == second.text)
        }
    }

    @Test func aConversationWhoseSlotMovedOnComesBackFromThePromptCache() async throws {
        let history = String(repeating: "User: tell me about the weather.\nAssistant: It is sunny and warm today.\n", count: 8)
        let opening = model.tokenize(history + "User: and tomorrow?")
        let followUp = model.tokenize(history + "User: and next week?")
        let other = GenerationRequest(prompt: model.tokenize(String(repeating: "Rivers run to the sea. ", count: 20)),
                                      sampling: .greedy, maxTokens: 4)
        let shared = Scheduler.commonPrefixLength(opening, followUp)
        #expect(shared > 100)

        // One slot: the other conversation takes it between the two turns.
        try await TestModel.engine(contextSize: 2048, slots: 1, promptCache: .mebibytes(64)).use { engine in
            _ = try await engine.complete(GenerationRequest(prompt: opening, sampling: .greedy, maxTokens: 8))
            _ = try await engine.complete(other)
            #expect(engine.promptCacheUsage.entries == 1)
            #expect(engine.promptCacheUsage.tokens >= opening.count)
            #expect(engine.promptCacheUsage.bytes > 0)
            let returning = try await engine.complete(GenerationRequest(prompt: followUp, sampling: .greedy, maxTokens: 8))
            #expect(returning.stats?.cachedTokens == shared)
            // The other conversation was kept in turn when this one took the slot back.
            #expect(engine.promptCacheUsage.entries == 2)

            // What the restored prefix computes is what evaluating the whole prompt computes.
            try await TestModel.engine(contextSize: 2048, slots: 1).use { fresh in
                let expected = try await fresh.complete(GenerationRequest(prompt: followUp, sampling: .greedy, maxTokens: 8))
                #expect(expected.stats?.cachedTokens == 0)
                #expect(returning.text == expected.text)
            }
        }
    }

    @Test func withoutAPromptCacheAMovedOnSlotForgetsTheConversation() async throws {
        let history = String(repeating: "User: tell me about the weather.\nAssistant: It is sunny and warm today.\n", count: 8)
        try await TestModel.engine(contextSize: 2048, slots: 1, promptCache: .off).use { engine in
            _ = try await engine.complete(GenerationRequest(prompt: model.tokenize(history + "User: and tomorrow?"), sampling: .greedy, maxTokens: 4))
            let other = model.tokenize(String(repeating: "Rivers run to the sea. ", count: 20))
            _ = try await engine.complete(GenerationRequest(prompt: other, sampling: .greedy, maxTokens: 4))
            let followUp = model.tokenize(history + "User: and next week?")
            let returning = try await engine.complete(GenerationRequest(prompt: followUp, sampling: .greedy, maxTokens: 4))
            // Only what the other conversation's prompt shares with it (the start-of-text token).
            #expect(returning.stats?.cachedTokens == Scheduler.commonPrefixLength(other, followUp))
            #expect(Scheduler.commonPrefixLength(other, followUp) <= 1)
            #expect(engine.promptCacheUsage == PromptCacheUsage())
        }
    }

    @Test func thePromptCacheStaysWithinItsBudgetLeastRecentlyUsedFirst() {
        let cache = PromptCache(budgetMiB: 1)
        let mebibyte = 1024 * 1024
        func tokens(_ first: Token, _ count: Int = 40) -> [Token] { (0..<count).map { first + Token($0) } }
        cache.insert(tokens: tokens(1000), state: [UInt8](repeating: 1, count: mebibyte / 2))
        cache.insert(tokens: tokens(2000), state: [UInt8](repeating: 2, count: mebibyte / 2))
        // Using the first makes the second the oldest: it goes when a third needs room.
        _ = cache.use(cache.longestMatch(for: tokens(1000))!.index)
        cache.insert(tokens: tokens(3000), state: [UInt8](repeating: 3, count: mebibyte / 4))
        #expect(cache.byteCount <= mebibyte)
        #expect(cache.longestMatch(for: tokens(2000)) == nil)
        #expect(cache.longestMatch(for: tokens(1000))?.length == 40)
        // A conversation that went on replaces its shorter prefix rather than adding beside it.
        cache.insert(tokens: tokens(1000, 60), state: [UInt8](repeating: 4, count: 16))
        #expect(cache.entries.filter { $0.tokens.first == 1000 }.count == 1)
        #expect(!cache.wouldKeep(tokens(1000, 50)))
        #expect(cache.wouldKeep(tokens(5000)))
        #expect(!cache.wouldKeep(tokens(6000, PromptCache.minimumTokens - 1)))
        // A state larger than the whole budget is not kept at all.
        cache.insert(tokens: tokens(7000), state: [UInt8](repeating: 5, count: 2 * mebibyte))
        #expect(cache.longestMatch(for: tokens(7000)) == nil)
    }

    @Test func theCacheRamSettingReadsAsLlamaServerDoes() throws {
        #expect(try PromptCacheSetting.parse("-1") == .unlimited)
        #expect(try PromptCacheSetting.parse("0") == .off)
        #expect(try PromptCacheSetting.parse("512") == .mebibytes(512))
        #expect(throws: InputError.self) { try PromptCacheSetting.parse("-2") }
        // Unset: llama-server's 8 GiB, unless the memory limit leaves less; then half of what is left.
        #expect(MemoryBudget.defaultPromptCacheMiB(limit: nil, resident: 300 << 20) == 8192)
        #expect(MemoryBudget.defaultPromptCacheMiB(limit: 4 << 30, resident: 1 << 30) == 1536)
        #expect(MemoryBudget.defaultPromptCacheMiB(limit: 64 << 30, resident: 1 << 30) == 8192)
        #expect(MemoryBudget.defaultPromptCacheMiB(limit: 1 << 30, resident: 2 << 30) == 1)
    }

    @Test func slotsSavedOnShutdownComeBackOnStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-slots-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let prompt = model.tokenize(String(repeating: "The history of the world is long and full of surprises. ", count: 6))
        let first = try await TestModel.engine(contextSize: 1024, slots: 1, slotSavePath: directory.path)
        let before = try await first.complete(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 6))
        await first.shutdown()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(files.count == 1)
        #expect(files.allSatisfy { $0.hasPrefix("gemmactl-") && $0.hasSuffix("-slot0.bin") })
        let mode = try #require(FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(files[0]).path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)

        try await TestModel.engine(contextSize: 1024, slots: 1, slotSavePath: directory.path).use { second in
            #expect((second.slots.first?.kvTokens ?? 0) >= prompt.count)
            let after = try await second.complete(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 6))
            #expect(after.stats?.cachedTokens == prompt.count - 1)
            #expect(after.text == before.text)
        }
    }

    @Test func longPromptDoesNotBlockAnotherStream() async throws {
        // Small batches so the long prompt needs many steps.
        try await TestModel.engine(contextSize: 4096, slots: 2, batchSize: 32).use { engine in
            let order = StreamEventLog()
            let short = GenerationRequest(prompt: model.tokenize("Tell me a story:"), sampling: .greedy, maxTokens: 40)
            let long = GenerationRequest(prompt: model.tokenize(String(repeating: "The history of the world is long. ", count: 60)),
                                         sampling: .greedy, maxTokens: 2)
            try await withThrowingTaskGroup(of: Void.self) { group in
                let shortStream = try engine.generate(short)
                group.addTask {
                    for try await event in shortStream { if case .text = event { await order.add("short") } }
                }
                // Wait until the short stream is generating, then start the long prompt.
                while await order.count("short") < 2 { try await Task.sleep(for: .milliseconds(5)) }
                let longStream = try engine.generate(long)
                group.addTask {
                    for try await event in longStream { if case .text = event { await order.add("long") } }
                }
                try await group.waitForAll()
            }
            let events = await order.events
            let firstLong = try #require(events.firstIndex(of: "long"))
            // The long prompt takes more than 20 steps of 32 tokens; the short stream kept producing meanwhile.
            #expect(events[..<firstLong].filter { $0 == "short" }.count >= 10)
        }
    }

    @Test func cancelledRequestFreesItsSlotAndCache() async throws {
        try await TestModel.engine(contextSize: 2048, slots: 1).use { engine in
            let stream = try engine.generate(GenerationRequest(prompt: model.tokenize("Write a very long essay about rivers."),
                                                              sampling: .greedy, maxTokens: 1000))
            let log = StreamEventLog()
            // A consumer that goes away, as a server handler does when its client disconnects.
            let consumer = Task {
                for try await event in stream { if case .text = event { await log.add("text") } }
            }
            while await log.count("text") < 3 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(engine.slots.first?.isProcessing == true)
            consumer.cancel()
            var freed = false
            for _ in 0..<500 {
                if let slot = engine.slots.first, !slot.isProcessing, slot.kvTokens == 0 { freed = true; break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(freed)
            #expect(await log.count("text") < 100)
            // And the next request is served.
            let next = try await engine.complete(GenerationRequest(prompt: model.tokenize("Hello"), sampling: .greedy, maxTokens: 3))
            #expect(next.stats?.completionTokens == 3)
        }
    }

    @Test func aSinkHearsTheEngineThreadAndIsFinishedOnceEvenWhenCancelled() async throws {
        try await TestModel.engine(contextSize: 1024, slots: 1).use { engine in
            let log = SinkLog()
            func sink(_ name: String) -> GenerationSink {
                GenerationSink(receive: { event in
                    // Straight from the engine's thread: no task relays the events.
                    let thread = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
                    log.add("\(name) \(event.kind) on \(thread.trimmingCharacters(in: .whitespacesAndNewlines))")
                }, finish: { error in log.add("\(name) finish \(error == nil ? "ok" : "error")") })
            }
            let prompt = model.tokenize("Count from one to a thousand:")
            let running = try engine.submit(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 500), to: sink("a"))
            // The only slot is busy: this one waits in the queue and is cancelled there.
            let queued = try engine.submit(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 5), to: sink("b"))
            while log.count(containing: "a text") < 3 { try await Task.sleep(for: .milliseconds(5)) }
            queued.cancel()
            running.cancel()
            while log.count(containing: "finish") < 2 { try await Task.sleep(for: .milliseconds(5)) }
            running.cancel()  // after the end: nothing more happens
            try await Task.sleep(for: .milliseconds(100))
            #expect(log.count(containing: "a finish ok") == 1)
            #expect(log.count(containing: "b finish ok") == 1)
            #expect(log.count(containing: "b ") == 1, "a request cancelled in the queue never starts: \(log.lines)")
            #expect(log.count(containing: "a finished") == 0, "cancelled, not finished: \(log.lines)")
            #expect(log.lines.filter { $0.hasPrefix("a text") }.allSatisfy { $0.hasSuffix("on gemmactl-engine") }, "\(log.lines)")
            #expect(log.count(containing: "a text") < 400)
            #expect(engine.slots.first?.isProcessing == false)
        }
    }

    @Test func batchNeverExceedsItsCapacity() async throws {
        // 4 slots all reading long prompts at once through a 64-token batch: the scheduler must split
        // them (LlamaBatch traps on overflow, so finishing at all is the check) and each gets its answer.
        try await TestModel.engine(contextSize: 4096, slots: 4, batchSize: 64).use { engine in
            let prompts = (0..<4).map { model.tokenize(String(repeating: "Item \($0) of a long list. ", count: 30)) }
            let results = try await withThrowingTaskGroup(of: GenerationStats?.self) { group in
                for prompt in prompts {
                    group.addTask { try await engine.complete(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 4)).stats }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 4)
            #expect(results.allSatisfy { $0?.completionTokens == 4 && ($0?.promptTokens ?? 0) > 64 })
        }
    }

    @Test func requestsSentTogetherShareOnePromptDecode() async throws {
        // A wider gap than the default so a busy test machine cannot stretch the spacing past it.
        try await InferenceEngine.start(model: model, options: EngineOptions(
            context: ContextOptions(contextSize: 2048, sequences: 4), admissionWindow: .seconds(1), admissionGap: .milliseconds(50))).use { engine in
            let prompts = ["The capital of Italy is", "Water boils at", "My favourite fruit is", "Kubernetes is"].map { model.tokenize($0) }
            let before = engine.decodeTotals
            // Queued a few milliseconds apart, as concurrent HTTP handlers would (the engine wakes far
            // sooner than that): the idle engine must not start the first prompt alone. Each request's
            // one output token comes from that prompt decode itself.
            let streams = try prompts.map { prompt in
                usleep(3_000)
                return try engine.generate(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 1))
            }
            for stream in streams { for try await _ in stream {} }
            let after = engine.decodeTotals
            #expect(after.calls - before.calls == 1)
            #expect(after.busySlots - before.busySlots == 4)
            #expect(after.tokens - before.tokens == prompts.reduce(0) { $0 + $1.count })
        }
    }

    @Test func aLoneRequestIsNotHeldBackForTheWholeWindow() async throws {
        // One request and nothing after it: the engine waits only for the quiet gap, not the window.
        try await InferenceEngine.start(model: model, options: EngineOptions(
            context: ContextOptions(contextSize: 512, sequences: 4), admissionWindow: .seconds(30), admissionGap: .milliseconds(2))).use { engine in
            let result = try await engine.complete(GenerationRequest(prompt: model.tokenize("Hello"), sampling: .greedy, maxTokens: 1))
            #expect(try #require(result.stats).queueDuration < .seconds(1))
        }
    }

    @Test func shortestPromptsGetTheBatchFirst() {
        // Four equal prompts that arrived together: three finish this step, the fourth starts.
        #expect(Scheduler.promptShares(remaining: [160, 160, 160, 160], budget: 512) == [160, 160, 160, 32])
        // The short prompt goes first, the long one gets the rest, wherever they stand.
        #expect(Scheduler.promptShares(remaining: [500, 32], budget: 512) == [480, 32])
        #expect(Scheduler.promptShares(remaining: [300, 10, 300], budget: 500) == [300, 10, 190])
        // Everything fits: everyone finishes; nothing is invented for a slot with nothing left.
        #expect(Scheduler.promptShares(remaining: [5, 0, 7], budget: 100) == [5, 0, 7])
        #expect(Scheduler.promptShares(remaining: [5, 7], budget: 0) == [0, 0])
        #expect(Scheduler.promptShares(remaining: [], budget: 512) == [])
    }

    @Test func fullQueueIsRefused() async throws {
        try await InferenceEngine.start(model: model, options: EngineOptions(
            context: ContextOptions(contextSize: 512, sequences: 1), maxQueue: 1)).use { engine in
            let prompt = model.tokenize("Hello there")
            let running = try engine.generate(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 200))
            var iterator = running.makeAsyncIterator()
            _ = try await iterator.next()  // started: the slot is taken
            while engine.slots.first?.isProcessing != true { try await Task.sleep(for: .milliseconds(5)) }
            let queued = try engine.generate(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 1))
            #expect { _ = try engine.generate(GenerationRequest(prompt: prompt)) } throws: { error in
                (error as? EngineError)?.code == .queueFull
            }
            _ = queued
        }
    }
}

actor StreamEventLog {
    private(set) var events: [String] = []
    func add(_ event: String) { events.append(event) }
    func count(_ event: String) -> Int { events.filter { $0 == event }.count }
}

@Suite("Greedy argmax")
struct GreedyArgmaxTests {
    private func argmax(_ values: [Float]) -> Int {
        values.withUnsafeBufferPointer { SamplerChain.firstIndexOfMaximum($0) }
    }

    @Test func picksTheLargestValueAnywhere() {
        for count in [1, 15, 16, 17, 33, 262_144] {
            for position in Set([0, count / 2, count - 1]) {
                var values = (0..<count).map { Float(($0 * 7919) % 1000) / 1000 - 2 }
                values[position] = 5
                #expect(argmax(values) == position, "count \(count), maximum at \(position)")
            }
        }
    }

    @Test func aTieGoesToTheLowestIndexAsInLlamaCpp() {
        var values = [Float](repeating: -1, count: 100)
        values[70] = 3; values[20] = 3; values[99] = 3
        #expect(argmax(values) == 20)
        #expect(argmax([Float](repeating: -.infinity, count: 40)) == 0)
    }
}

/// What a test sink heard, from whatever thread.
final class SinkLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func add(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
    func count(containing text: String) -> Int { lines.filter { $0.contains(text) }.count }
}

extension GenerationEvent {
    /// The event's name, for logs in tests.
    var kind: String {
        switch self {
        case .started: "started"
        case .promptProgress: "progress"
        case .text: "text"
        case .finished: "finished"
        }
    }
}

@Suite("Generation feeds", .serialized)
struct GenerationFeedTests {
    let model = TestModel.shared

    /// The event kinds a feed delivered, and the text joined.
    func drain(_ feed: GenerationFeed) async -> (kinds: [String], text: String) {
        var kinds: [String] = [], text = ""
        for await item in feed.items {
            switch item {
            case .event(let event, _):
                kinds.append(event.kind)
                if case .text(let piece, _, _) = event { text += piece }
            case .failed: kinds.append("failed")
            case .end: kinds.append("end")
            case .tick: break
            }
        }
        return (kinds, text)
    }

    @Test func anAnswerSentWholeWakesItsHandlerOncePerEventKindWithTheSameText() async throws {
        try await TestModel.engine().use { engine in
            let request = GenerationRequest(prompt: model.tokenize("The three primary colors are"), sampling: .greedy, maxTokens: 24)
            let streamed = await drain(try GenerationFeed([request], engine: engine, streamed: true))
            let whole = await drain(try GenerationFeed([request], engine: engine, streamed: false))
            #expect(streamed.kinds.filter { $0 == "text" }.count > 5)
            #expect(whole.kinds == ["started", "text", "finished", "end"])
            #expect(whole.text == streamed.text)
            #expect(!whole.text.isEmpty)
        }
    }
}
