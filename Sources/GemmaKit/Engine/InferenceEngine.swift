import CLlama
import Foundation
import Logging

/// Settings for the inference engine.
public struct EngineOptions: Sendable, Equatable {
    public var context: ContextOptions
    /// Requests that may wait for a free slot before new ones are refused.
    public var maxQueue: Int
    /// How long an idle engine may wait for more requests after the first arrives, so requests
    /// sent together share their prompt decodes (zero: start at once). See `gatherArrivals`.
    public var admissionWindow: Duration
    /// Within that window, the wait ends once no request has arrived for this long.
    public var admissionGap: Duration
    /// Host memory for prompt states whose slot moved on (`--cache-ram`).
    public var promptCache: PromptCacheSetting
    /// Where slots are saved on shutdown and restored from on start (`--slot-save-path`); nil: nowhere.
    public var slotSavePath: String?
    /// Tokens one embedding input may have: the size of the embeddings context, which is created
    /// on the first embedding request (see `EmbeddingRunner`).
    public var embeddingContextSize: Int
    /// How embeddings are pooled (`--pooling`): `.none` gives one vector per token, which only
    /// llama-server's native `/embedding` can answer.
    public var embeddingPooling: EmbeddingPooling = .mean
    /// Speculative decoding (`--spec-type`, `-md`); see `SpeculationOptions`.
    public var speculation: SpeculationOptions = .automatic

    /// Tokens one embedding input may have unless set otherwise.
    public static let defaultEmbeddingContextSize = 2048

    public init(context: ContextOptions = ContextOptions(), maxQueue: Int = 64,
                admissionWindow: Duration = .milliseconds(10), admissionGap: Duration = .milliseconds(2),
                promptCache: PromptCacheSetting = .automatic, slotSavePath: String? = nil, embeddingContextSize: Int = defaultEmbeddingContextSize) {
        self.context = context
        self.maxQueue = maxQueue
        self.admissionWindow = admissionWindow
        self.admissionGap = admissionGap
        self.promptCache = promptCache
        self.slotSavePath = slotSavePath
        self.embeddingContextSize = embeddingContextSize
    }
}

/// Runs generations for many requests at once with continuous batching.
///
/// One dedicated thread owns the llama context. Each step it builds a single batch with the next
/// token of every generating slot plus prompt chunks of slots still reading their prompt (up to
/// the batch size), decodes once, and samples per slot, so concurrent streams share each decode
/// and a long prompt never stalls the others for more than one chunk.
/// A finished slot keeps its KV cache; the next request goes to the idle slot whose cached tokens
/// share the longest prefix with its prompt, and only the rest of the prompt is evaluated.
///
/// `@unchecked Sendable`: what other threads touch (queue, cancellations, snapshots) is guarded
/// by `condition`; the context, batch and slots live inside `run()` on the engine's thread.
public final class InferenceEngine: @unchecked Sendable {
    public let model: LlamaModel
    public let options: EngineOptions

    private let logger = Logger(label: "gemmactl.engine")
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [Job] = []
    private var embeddingQueue: [EmbeddingJob] = []
    private var slotActions: [SlotActionJob] = []
    private var cancelled: Set<UInt64> = []
    private var stopping = false
    private var stopped = false
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []
    private var snapshots: [SlotSnapshot] = []
    private var totals = DecodeTotals()
    private var cacheUsage = PromptCacheUsage()
    private var nextJobID: UInt64 = 1
    private var sequenceContext = 0

    struct Job: Sendable {
        let id: UInt64
        let request: GenerationRequest
        let sink: GenerationSink
        let enqueued: ContinuousClock.Instant
    }

    /// Inputs to embed, and who waits for their rows.
    struct EmbeddingJob {
        let inputs: [[Token]]
        let done: CheckedContinuation<[[[Float]]], any Error>
    }

    /// A slot action, and who waits for its result.
    struct SlotActionJob {
        let slot: Int
        let action: SlotAction
        let done: CheckedContinuation<SlotActionResult, any Error>
    }

    private init(model: LlamaModel, options: EngineOptions) {
        self.model = model
        self.options = options
    }

    /// Starts the engine's thread, which creates the context; returns once it is ready.
    public static func start(model: LlamaModel, options: EngineOptions = EngineOptions()) async throws -> InferenceEngine {
        let engine = InferenceEngine(model: model, options: options)
        try await withCheckedThrowingContinuation { (ready: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                // Named from inside: the name shows in `top -H` and perf, and ggml's worker
                // threads, started from this one, inherit it.
                nameCurrentThread("gemmactl-engine")
                engine.run(ready: ready)
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        return engine
    }

    /// Context tokens one request may use, prompt and output together.
    public var slotContextSize: Int { condition.withLock { sequenceContext } }
    public var slotCount: Int { options.context.sequences }

    /// The slots as they are now.
    public var slots: [SlotSnapshot] { condition.withLock { snapshots } }

    /// Requests waiting for a slot.
    public var queuedCount: Int { condition.withLock { queue.count } }

    /// Decode calls so far and how many slots and tokens they carried.
    public var decodeTotals: DecodeTotals { condition.withLock { totals } }

    /// What the host-memory prompt cache holds.
    public var promptCacheUsage: PromptCacheUsage { condition.withLock { cacheUsage } }

    // MARK: Submitting work

    /// Starts a generation. The stream yields `started`, then text, then `finished`; ending the
    /// iteration early (a client that went away) cancels it and frees its slot.
    ///
    /// Throws at once for a prompt that cannot fit, a full queue, or bad sampling parameters.
    public func generate(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
        let ticket = try submit(request, to: GenerationSink(continuation))
        continuation.onTermination = { termination in
            if case .cancelled = termination { ticket.cancel() }
        }
        return stream
    }

    /// Starts a generation whose events go straight to `sink`, called on the engine's thread: no
    /// task sits between the engine and the consumer, which matters once per streamed token.
    ///
    /// Throws at once for a prompt that cannot fit, a full queue, or bad sampling parameters;
    /// otherwise `sink.finish` is called exactly once, also after `cancel()`.
    public func submit(_ request: GenerationRequest, to sink: GenerationSink) throws(EngineError) -> GenerationTicket {
        try request.sampling.validate()
        guard !request.prompt.isEmpty else { throw EngineError(.emptyPrompt, "the prompt is empty") }
        if let maxTokens = request.maxTokens, maxTokens < 0 {
            throw EngineError(.outOfRange(.maxTokens, value: "\(maxTokens)", requirement: "0 or more"))
        }
        let vocabulary = Token(model.vocabularySize)
        if let bad = request.prompt.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw EngineError(.unknownToken(.prompt, token: bad, vocabulary: Int(vocabulary)))
        }
        if let bad = request.sampling.logitBias.first(where: { $0.token < 0 || $0.token >= vocabulary }) {
            throw EngineError(.unknownToken(.logitBias, token: bad.token, vocabulary: Int(vocabulary)))
        }
        if let slot = request.slot, !(0..<slotCount).contains(slot) {
            throw EngineError(.outOfRange(.slot, value: "\(slot)", requirement: "between 0 and \(slotCount - 1)"))
        }
        if let grammar = request.sampling.grammar { try SamplerChain.checkGrammar(grammar, triggers: request.sampling.grammarTriggers, model: model) }
        let limit = slotContextSize
        guard request.prompt.count < limit else {
            throw EngineError(.promptTooLong(tokens: request.prompt.count, limit: limit))
        }
        let id: UInt64 = try condition.withLock { () throws(EngineError) -> UInt64 in
            guard !stopping else { throw EngineError(.shuttingDown, "the server is shutting down") }
            // Requests pass through the queue on their way to a slot: only those beyond the free
            // slots are waiting.
            let freeSlots = snapshots.filter { !$0.isProcessing }.count
            guard queue.count < options.maxQueue + freeSlots else {
                throw EngineError(.queueFull, "all \(slotCount) slots are busy and \(queue.count) requests are already waiting")
            }
            let id = nextJobID
            nextJobID += 1
            queue.append(Job(id: id, request: request, sink: sink, enqueued: .now))
            condition.signal()
            return id
        }
        return GenerationTicket(id: id) { [weak self] id in self?.cancel(id) }
    }

    /// The embedding rows of each input, not normalised: one pooled vector, or one per token when
    /// `embeddingPooling` is `.none`. They are computed on the engine's thread between decode
    /// steps, a chunk of an input per step, so embeddings and generations share the cores in turn
    /// instead of each using all of them at once.
    public func embeddingRows(_ inputs: [[Token]]) async throws -> [[[Float]]] {
        let limit = options.embeddingContextSize
        for (index, tokens) in inputs.enumerated() {
            guard !tokens.isEmpty else { throw EngineError(.emptyEmbeddingInput(index: index)) }
            guard tokens.count <= limit else { throw EngineError(.embeddingInputTooLong(index: index, tokens: tokens.count, limit: limit)) }
        }
        return try await withCheckedThrowingContinuation { done in
            let refused: EngineError? = condition.withLock {
                guard !stopping else { return EngineError(.shuttingDown, "the server is shutting down") }
                embeddingQueue.append(EmbeddingJob(inputs: inputs, done: done))
                condition.signal()
                return nil
            }
            if let refused { done.resume(throwing: refused) }
        }
    }

    /// Saves, restores or erases slot `slot` on the engine's thread, between decode steps. An
    /// action on a busy slot waits until its request has finished, as llama-server defers it.
    public func perform(_ action: SlotAction, onSlot slot: Int) async throws -> SlotActionResult {
        guard (0..<slotCount).contains(slot) else {
            throw EngineError(.outOfRange(.slot, value: "\(slot)", requirement: "one of the \(slotCount) slots (0 to \(slotCount - 1))"))
        }
        return try await withCheckedThrowingContinuation { done in
            let refused: EngineError? = condition.withLock {
                guard !stopping else { return EngineError(.shuttingDown, "the server is shutting down") }
                slotActions.append(SlotActionJob(slot: slot, action: action, done: done))
                condition.signal()
                return nil
            }
            if let refused { done.resume(throwing: refused) }
        }
    }

    private func cancel(_ id: UInt64) {
        condition.withLock {
            if let index = queue.firstIndex(where: { $0.id == id }) {
                queue.remove(at: index).sink.finish(nil)
            } else {
                cancelled.insert(id)
            }
            condition.signal()
        }
    }

    /// Cancels every request, stops the thread and returns once it has ended (the context is
    /// freed on it), without blocking a thread of the caller's while it waits.
    public func shutdown() async {
        let (dropped, droppedEmbeddings, droppedActions) = condition.withLock {
            stopping = true
            defer { queue = []; embeddingQueue = []; slotActions = [] }
            condition.broadcast()
            return (queue, embeddingQueue, slotActions)
        }
        let error = EngineError(.shuttingDown, "the server is shutting down")
        for job in dropped { job.sink.finish(error) }
        for job in droppedEmbeddings { job.done.resume(throwing: error) }
        for job in droppedActions { job.done.resume(throwing: error) }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let alreadyStopped = condition.withLock {
                if !stopped { stopWaiters.append(done) }
                return stopped
            }
            if alreadyStopped { done.resume() }
        }
    }

    /// Runs `body` with the engine, then shuts the engine down, also when `body` throws.
    @discardableResult
    public func use<T>(_ body: (InferenceEngine) async throws -> T) async throws -> T {
        let result: T
        do {
            result = try await body(self)
        } catch {
            await shutdown()
            throw error
        }
        await shutdown()
        return result
    }

    deinit {
        condition.withLock { stopping = true; condition.broadcast() }
    }

    /// Names this model's saved slot files: its file name and size, so a pod that switched
    /// models never loads another model's state.
    private var slotFileKey: String {
        let name = URL(fileURLWithPath: model.path).deletingPathExtension().lastPathComponent
        let size = (try? FileManager.default.attributesOfItem(atPath: model.path)[.size] as? Int) ?? 0
        let safe = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
        return "\(safe)-\(size)"
    }

    // MARK: The loop (engine thread only)

    /// Called with `condition` held when work reaches an idle engine. Requests sent together (a
    /// client's parallel calls) reach the queue a little apart, each after its own body parsing
    /// and tokenizing; if the first started alone, the others' prompts would each wait for the
    /// step before and take one of their own. So wait until every free slot has a request, no
    /// request has come for `admissionGap`, or `admissionWindow` has passed.
    private func gatherArrivals(freeSlots: Int) {
        guard options.admissionWindow > .zero, !queue.isEmpty else { return }
        let clock = ContinuousClock()
        let deadline = clock.now + options.admissionWindow
        var quietUntil = clock.now + options.admissionGap
        var seen = queue.count
        while !stopping, queue.count < freeSlots {
            let until = min(deadline, quietUntil)
            let left = clock.now.duration(to: until)
            guard left > .zero else { break }
            _ = condition.wait(until: Date(timeIntervalSinceNow: left.seconds))
            if queue.count > seen {
                seen = queue.count
                quietUntil = clock.now + options.admissionGap
            }
        }
    }

    /// Called with `condition` held: the queued jobs that can start now, removed from the queue.
    /// Jobs pinned to a slot (`id_slot`) claim their slot first when it is free (else they wait
    /// for it); the others, in queue order, take what is left. Pinned jobs come first in the
    /// result, so the scheduler hands them their slot before the others pick theirs.
    private func takeAssignable(freeSlots: Set<Int>) -> [Job] {
        guard !freeSlots.isEmpty, !queue.isEmpty else { return [] }
        var free = freeSlots
        var taken: [Job] = []
        for job in queue {
            guard let slot = job.request.slot, free.contains(slot) else { continue }
            free.remove(slot)
            taken.append(job)
        }
        for job in queue where job.request.slot == nil && taken.count < freeSlots.count {
            taken.append(job)
        }
        let ids = Set(taken.map(\.id))
        queue.removeAll { ids.contains($0.id) }
        return taken
    }

    private func run(ready: CheckedContinuation<Void, any Error>) {
        serve(ready: ready)
        markStopped()
    }

    /// Creates the context, then steps until shutdown.
    private func serve(ready: CheckedContinuation<Void, any Error>) {
        let context: LlamaContext
        do {
            context = try LlamaContext(model: model, options: options.context)
        } catch {
            ready.resume(throwing: error)
            return
        }
        let speculator: Speculator?
        do {
            let speculation = options.speculation
            // The draft model is the engine's, as the context is: made, used and freed on this thread.
            let draftModel = speculation.isOn ? try speculation.draftModel.map { path throws(EngineError) in
                try DraftModel(path: path, options: options.context)
            } : nil
            speculator = speculation.isOn
                ? try Speculator(types: speculation.types, sequences: options.context.sequences, target: context,
                                 draftModel: draftModel, draftMax: speculation.draftMax, draftMin: speculation.draftMin) : nil
        } catch {
            ready.resume(throwing: error)
            return
        }
        let cacheBudget = options.promptCache.budgetMiB(limit: MemoryBudget.cgroupLimit(), resident: MemoryBudget.residentBytes())
        let scheduler = Scheduler(context: context, slotCount: options.context.sequences,
                                  promptCache: cacheBudget.map(PromptCache.init(budgetMiB:)),
                                  speculation: speculator.map { ($0, options.speculation) }, logger: logger,
                                  onDecode: { [self] totals in condition.withLock { self.totals = totals } },
                                  onRelease: { [self] slots in condition.withLock { snapshots = slots } })
        logger.info("speculative decoding", metadata: [
            "types": "\(speculator == nil ? "none" : options.speculation.types.joined(separator: ","))",
            "draft_max": "\(options.speculation.draftMax)", "draft_model": "\(options.speculation.draftModel ?? "none")"])
        logger.info("prompt cache", metadata: ["budget": "\(cacheBudget.map { $0 < 0 ? "unlimited" : "\($0) MiB" } ?? "off")"])
        let savedSlots = options.slotSavePath.map { URL(fileURLWithPath: $0, isDirectory: true) }
        if let savedSlots {
            let restored = scheduler.restoreSlots(from: savedSlots, modelKey: slotFileKey)
            if restored > 0 { logger.info("restored saved slots", metadata: ["slots": "\(restored)", "path": "\(savedSlots.path)"]) }
        }
        condition.withLock {
            sequenceContext = context.sequenceContextSize
            snapshots = scheduler.snapshots()
        }
        let embedder = EmbeddingRunner(model: model, contextSize: options.embeddingContextSize, threads: options.context.batchThreads,
                                       pooling: options.embeddingPooling)
        ready.resume()

        // The embedding job in progress and the vectors it has so far.
        var embedding: (job: EmbeddingJob, vectors: [[[Float]]])?
        while true {
            var incoming: [Job] = []
            var cancels: Set<UInt64> = []
            var actions: [SlotActionJob] = []
            let keepGoing: Bool = condition.withLock {
                while !stopping, queue.isEmpty, cancelled.isEmpty, !scheduler.hasWork, embedding == nil, embeddingQueue.isEmpty,
                      slotActions.isEmpty {
                    condition.wait()
                }
                if !scheduler.hasWork { gatherArrivals(freeSlots: scheduler.freeSlotCount) }
                if stopping { return false }
                incoming = takeAssignable(freeSlots: scheduler.freeSlotIDs)
                cancels = cancelled
                cancelled = []
                if embedding == nil, !embeddingQueue.isEmpty { embedding = (embeddingQueue.removeFirst(), []) }
                actions = slotActions
                slotActions = []
                return true
            }
            guard keepGoing else { break }
            scheduler.cancel(cancels)
            // Before new requests take slots, so an action waiting for its slot runs as soon as it is free.
            if !actions.isEmpty { runSlotActions(actions, on: scheduler) }
            for job in incoming { scheduler.assign(job) }
            scheduler.step()
            if let (job, vectors) = embedding {
                do {
                    let next = try embedder.advance(job.inputs[vectors.count]).map { vectors + [$0] } ?? vectors
                    if next.count == job.inputs.count {
                        job.done.resume(returning: next)
                        embedding = nil
                    } else {
                        embedding = (job, next)
                    }
                } catch {
                    job.done.resume(throwing: error)
                    embedding = nil
                }
            }
            let current = scheduler.snapshots()
            let usage = scheduler.promptCacheUsage
            condition.withLock {
                snapshots = current
                cacheUsage = usage
            }
        }
        let shuttingDown = EngineError(.shuttingDown, "the server is shutting down")
        scheduler.failAll(shuttingDown)
        let (waiting, waitingActions) = condition.withLock {
            defer { embeddingQueue = []; slotActions = [] }
            return (embeddingQueue, slotActions)
        }
        for job in (embedding.map { [$0.job] } ?? []) + waiting { job.done.resume(throwing: shuttingDown) }
        for job in waitingActions { job.done.resume(throwing: shuttingDown) }
        if let savedSlots { scheduler.saveSlots(to: savedSlots, modelKey: slotFileKey) }
        let last = scheduler.snapshots()
        condition.withLock { snapshots = last }
        // `context` is freed as this returns, on the thread that used it.
    }

    /// Runs the actions whose slot is idle and puts the others back in line. Their callers hear
    /// back only after `/slots` shows the change.
    private func runSlotActions(_ actions: [SlotActionJob], on scheduler: Scheduler) {
        var waiting: [SlotActionJob] = []
        var results: [(SlotActionJob, Result<SlotActionResult, EngineError>)] = []
        for job in actions {
            if scheduler.isBusy(slot: job.slot) {
                waiting.append(job)
            } else {
                results.append((job, Result { () throws(EngineError) in try scheduler.perform(job.action, onSlot: job.slot) }))
            }
        }
        let current = scheduler.snapshots()
        condition.withLock {
            snapshots = current
            slotActions.insert(contentsOf: waiting, at: 0)
        }
        for (job, result) in results { job.done.resume(with: result.mapError { $0 as any Error }) }
    }

    /// Tells `shutdown()` callers that the thread is done.
    private func markStopped() {
        let waiters: [CheckedContinuation<Void, Never>] = condition.withLock {
            stopped = true
            defer { stopWaiters = [] }
            return stopWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Names the calling thread for the OS, where `top -H`, `ps -L` and perf show it (Linux keeps
/// 15 bytes). Foundation's `Thread.name` set before `start()` does not reach the OS thread on
/// Linux, and Swift cannot see glibc's `pthread_setname_np`; /proc/thread-self/comm is the same.
func nameCurrentThread(_ name: String) {
    #if os(Linux)
    guard let file = fopen("/proc/thread-self/comm", "w") else { return }
    fputs(String(decoding: name.utf8.prefix(15), as: UTF8.self), file)
    fclose(file)
    #else
    Thread.current.name = name
    #endif
}

extension NSCondition {
    func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
