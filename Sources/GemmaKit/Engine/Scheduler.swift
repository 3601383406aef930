import CLlama
import Foundation
import Logging

/// The engine thread's state: slots, the shared batch and the context. Not thread-safe by design.
final class Scheduler {
    private let context: LlamaContext
    private let model: LlamaModel
    private let batch: LlamaBatch
    private var slots: [Slot]
    private let logger: Logger
    private var useCounter: UInt64 = 0
    private var prefillCursor = 0
    private var totals = DecodeTotals()
    /// Prefixes kept after their slot moved on (nil: `--cache-ram 0`).
    private let promptCache: PromptCache?
    /// Speculation (nil: off) and its limits.
    private let speculator: Speculator?
    private let speculation: SpeculationOptions
    /// Told the new totals after each decode, before any of its tokens go out.
    private let onDecode: (DecodeTotals) -> Void
    /// Gets the slots' state whenever a request leaves its slot, before its client hears it finished.
    private let onRelease: ([SlotSnapshot]) -> Void

    init(context: LlamaContext, slotCount: Int, promptCache: PromptCache? = nil,
         speculation: (Speculator, SpeculationOptions)? = nil, logger: Logger,
         onDecode: @escaping (DecodeTotals) -> Void = { _ in },
         onRelease: @escaping ([SlotSnapshot]) -> Void = { _ in }) {
        self.context = context
        self.onDecode = onDecode
        self.onRelease = onRelease
        self.model = context.model
        self.promptCache = promptCache
        speculator = speculation?.0
        self.speculation = speculation?.1 ?? .off
        self.logger = logger
        batch = LlamaBatch(capacity: context.batchSize)
        slots = (0..<slotCount).map { Slot(id: $0) }
    }

    /// What the host-memory prompt cache holds now.
    var promptCacheUsage: PromptCacheUsage {
        PromptCacheUsage(entries: promptCache?.entries.count ?? 0, tokens: promptCache?.tokenCount ?? 0,
                         bytes: promptCache?.byteCount ?? 0)
    }

    var hasWork: Bool { slots.contains { $0.job != nil } }
    var freeSlotCount: Int { slots.filter { $0.job == nil }.count }
    var freeSlotIDs: Set<Int> { Set(slots.filter { $0.job == nil }.map(\.id)) }

    func snapshots() -> [SlotSnapshot] {
        slots.map { slot in
            SlotSnapshot(id: slot.id, contextSize: context.sequenceContextSize, isProcessing: slot.job != nil,
                         taskID: slot.job.map { Int($0.id) } ?? slot.lastTaskID,
                         promptTokens: slot.job?.request.prompt.count ?? slot.lastPromptTokens,
                         cachedTokens: slot.reusedTokens, decodedTokens: slot.generated,
                         kvTokens: slot.cached.count, speculative: speculator != nil,
                         sampling: (slot.job?.request ?? slot.lastRequest)?.sampling,
                         maxTokens: (slot.job?.request ?? slot.lastRequest)?.maxTokens)
        }
    }

    // MARK: Assigning

    /// Puts `job` on its pinned slot, else on the idle slot that has the longest cached prefix of
    /// its prompt (else the one used longest ago), and drops the rest of that slot's cache
    /// (all of it when the request asks not to reuse it).
    func assign(_ job: InferenceEngine.Job) {
        let prompt = job.request.prompt
        let idle = slots.filter { $0.job == nil }
        guard !idle.isEmpty else { return }
        let slot: Slot
        var reusable: Int
        if let pinned = job.request.slot {
            // The engine only hands over a pinned job once its slot is free.
            guard let free = idle.first(where: { $0.id == pinned }) else { return }
            slot = free
            reusable = Self.commonPrefixLength(slot.cached, prompt)
        } else {
            let scored = idle.map { ($0, Self.commonPrefixLength($0.cached, prompt)) }
            let best = scored.max { a, b in a.1 != b.1 ? a.1 < b.1 : a.0.lastUsed > b.0.lastUsed }!
            slot = best.1 > 0 ? best.0 : idle.min { $0.lastUsed < $1.lastUsed }!
            reusable = best.0 === slot ? best.1 : 0
        }
        if !job.request.cachePrompt { reusable = 0 }
        if job.request.cachePrompt, let promptCache, let match = promptCache.longestMatch(for: prompt), match.length > reusable {
            keepInPromptCache(slot)
            if context.restoreState(promptCache.use(match.index).state, into: slot.sequence) {
                slot.cached = promptCache.entries[match.index].tokens
                reusable = match.length
            } else {
                logger.warning("a cached prompt state could not be restored; evaluating the prompt again")
                slot.cached.removeAll()
                reusable = 0
            }
        }
        // Evaluate at least the last prompt token: its logits give the first output token.
        var keep = min(reusable, prompt.count - 1)
        if keep < slot.cached.count {
            // Another conversation takes the slot: keep this one's prefix for when it returns.
            if slot.cached.count - keep >= PromptCache.minimumTokens { keepInPromptCache(slot) }
            if !context.removeTokens(sequence: slot.sequence, from: Int32(keep)) {
                context.removeTokens(sequence: slot.sequence)
                keep = 0
            }
            slot.cached.removeLast(slot.cached.count - keep)
        }
        let sampler: SamplerChain
        do {
            sampler = try SamplerChain(job.request.sampling, model: model)
        } catch {
            job.sink.finish(error)
            return
        }
        useCounter += 1
        slot.begin(job, sampler: sampler, reused: keep, use: useCounter)
        job.sink.receive(.started(slot: slot.id, promptTokens: prompt.count, cachedTokens: keep))
        if job.request.reportsProgress { reportProgress(slot) }
        if job.request.maxTokens == 0 { finish(slot, .limit) }
    }

    /// How many prompt tokens each reading slot gets this step: `budget` goes to the shortest
    /// remaining prompts first, whole, and the next one gets what is left (ties: earlier first).
    /// Shortest first minimises the mean time to first token; a long prompt still advances with
    /// whatever the others leave, and they are few (one per slot) and finish within a step or two.
    static func promptShares(remaining: [Int], budget: Int) -> [Int] {
        var shares = [Int](repeating: 0, count: remaining.count)
        var left = budget
        // `sorted` is stable: equal prompts keep their rotating order.
        for index in remaining.indices.sorted(by: { remaining[$0] < remaining[$1] }) where left > 0 {
            shares[index] = min(max(0, remaining[index]), left)
            left -= shares[index]
        }
        return shares
    }

    /// Copies what `slot` holds into the prompt cache before it is overwritten, when the cache
    /// lacks it.
    private func keepInPromptCache(_ slot: Slot) {
        guard let promptCache, promptCache.wouldKeep(slot.cached) else { return }
        guard let state = context.state(of: slot.sequence) else {
            logger.warning("could not copy a slot's prompt state into the prompt cache", metadata: ["slot": "\(slot.id)"])
            return
        }
        promptCache.insert(tokens: slot.cached, state: state)
    }

    // MARK: Saving slots to disk

    /// Writes every slot that holds a prompt to `directory` (`--slot-save-path`) on shutdown.
    func saveSlots(to directory: URL, modelKey: String) {
        for slot in slots where slot.cached.count >= PromptCache.minimumTokens {
            let file = Self.slotFile(directory, modelKey: modelKey, slot: slot.id)
            if write(slot, to: file) == nil {
                logger.warning("could not save a slot", metadata: ["slot": "\(slot.id)", "path": "\(file.path)"])
            }
        }
    }

    /// Writes `slot`'s tokens and state to `file` under a temporary name in the same directory,
    /// made readable by this user only (it holds the conversation), then renamed, so a crash
    /// never leaves half a file and no reader ever sees one. Returns the bytes written.
    private func write(_ slot: Slot, to file: URL) -> Int? {
        let partial = file.deletingLastPathComponent()
            .appendingPathComponent(".\(file.lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).partial").path
        guard context.saveState(of: slot.sequence, tokens: slot.cached, to: partial),
              chmod(partial, 0o600) == 0,
              let size = (try? FileManager.default.attributesOfItem(atPath: partial))?[.size] as? Int,
              rename(partial, file.path) == 0 else {
            try? FileManager.default.removeItem(atPath: partial)
            return nil
        }
        return size
    }

    /// Restores the slots `saveSlots` wrote for this model; files of another model or context
    /// size are left alone. Returns how many slots were restored.
    @discardableResult
    func restoreSlots(from directory: URL, modelKey: String) -> Int {
        var restored = 0
        for slot in slots {
            let file = Self.slotFile(directory, modelKey: modelKey, slot: slot.id)
            guard FileManager.default.fileExists(atPath: file.path) else { continue }
            if let tokens = context.loadState(into: slot.sequence, from: file.path) {
                slot.cached = tokens
                restored += 1
            } else {
                logger.warning("a saved slot does not fit this model or context; ignored", metadata: ["path": "\(file.path)"])
            }
        }
        return restored
    }

    // MARK: Slot actions

    /// Whether slot `id` serves a request now (an action on it must wait, as in llama-server).
    func isBusy(slot id: Int) -> Bool { slots[id].job != nil }

    /// Saves, restores or erases idle slot `id`. Errors carry no path: their text reaches clients.
    func perform(_ action: SlotAction, onSlot id: Int) throws(EngineError) -> SlotActionResult {
        let slot = slots[id]
        let started = ContinuousClock.now
        switch action {
        case .save(let file):
            guard let bytes = write(slot, to: file) else {
                throw EngineError(.slotSaveFailed, "Unable to save slot: the file could not be written")
            }
            return SlotActionResult(tokens: slot.cached.count, bytes: bytes, duration: .now - started)
        case .restore(let file):
            guard let size = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? Int else {
                throw EngineError(.slotFileRejected, "Unable to restore slot: no file named '\(file.lastPathComponent)' in the slot directory")
            }
            // A failed load leaves the slot empty, as llama-server does: its old cache is gone either way.
            guard let tokens = context.loadState(into: slot.sequence, from: file.path) else {
                slot.cached.removeAll()
                throw EngineError(.slotFileRejected,
                                  "Unable to restore slot: '\(file.lastPathComponent)' is not a saved slot of this model, or does not fit this slot's context")
            }
            slot.cached = tokens
            return SlotActionResult(tokens: tokens.count, bytes: size, duration: .now - started)
        case .erase:
            let erased = slot.cached.count
            release(slot, dropCache: true)
            return SlotActionResult(tokens: erased, bytes: 0, duration: .now - started)
        }
    }

    static func slotFile(_ directory: URL, modelKey: String, slot: Int) -> URL {
        directory.appendingPathComponent("gemmactl-\(modelKey)-slot\(slot).bin")
    }

    static func commonPrefixLength(_ a: [Token], _ b: [Token]) -> Int {
        var n = 0
        let limit = min(a.count, b.count)
        while n < limit, a[n] == b[n] { n += 1 }
        return n
    }

    // MARK: Cancelling

    func cancel(_ ids: Set<UInt64>) {
        guard !ids.isEmpty else { return }
        for slot in slots {
            guard let job = slot.job, ids.contains(job.id) else { continue }
            job.sink.finish(nil)
            release(slot, dropCache: true)
        }
    }

    func failAll(_ error: EngineError) {
        for slot in slots where slot.job != nil {
            slot.job?.sink.finish(error)
            release(slot, dropCache: true)
        }
    }

    private func release(_ slot: Slot, dropCache: Bool) {
        if dropCache {
            context.removeTokens(sequence: slot.sequence)
            slot.cached.removeAll()
        }
        slot.end()
    }

    // MARK: One step

    /// Builds one batch (all next tokens first, each with its slot's draft, then prompt chunks),
    /// decodes it, samples (and verifies the drafts).
    func step() {
        batch.clear()
        var participants: [Slot] = []
        let generating = slots.filter { $0.job != nil && $0.pendingToken != nil }
        if let speculator { draft(for: generating, with: speculator) }
        for slot in generating {
            let token = slot.pendingToken!
            slot.outputRow = batch.append(token, position: Int32(slot.cached.count), sequence: slot.sequence, wantsLogits: true)
            slot.cached.append(token)
            slot.pendingToken = nil
            // The draft's rows follow the token's: row outputRow + i + 1 holds the logits after draft[i].
            for drafted in slot.draft {
                batch.append(drafted, position: Int32(slot.cached.count), sequence: slot.sequence, wantsLogits: true)
                slot.cached.append(drafted)
            }
            participants.append(slot)
        }
        // Prompt chunks fill what is left, shortest remaining prompt first (the order that gets
        // the most first tokens out soonest); a rotating start breaks ties.
        let cursor = prefillCursor
        prefillCursor = (prefillCursor + 1) % max(1, slots.count)
        // Decode-only steps (every step of a stream once its prompt is in) skip the bookkeeping.
        let reading = slots.contains(where: \.isReadingPrompt)
            ? slots.indices.map { slots[($0 + cursor) % slots.count] }.filter(\.isReadingPrompt) : []
        let shares = Self.promptShares(remaining: reading.map { $0.job!.request.prompt.count - $0.promptIndex },
                                       budget: batch.capacity - batch.count)
        for (slot, take) in zip(reading, shares) where take > 0 {
            let prompt = slot.job!.request.prompt
            for offset in 0..<take {
                let index = slot.promptIndex + offset
                let isLast = index == prompt.count - 1
                let row = batch.append(prompt[index], position: Int32(slot.cached.count), sequence: slot.sequence, wantsLogits: isLast)
                slot.cached.append(prompt[index])
                if isLast { slot.outputRow = row }
            }
            slot.promptIndex += take
            participants.append(slot)
        }
        let progressing = reading.filter { $0.job?.request.reportsProgress == true }
        guard batch.count > 0 else { return }
        do {
            try context.decode(batch)
        } catch {
            logger.error("decode failed", metadata: ["error": "\(error.message)", "tokens": "\(batch.count)"])
            for slot in participants where slot.job != nil {
                slot.job?.sink.finish(error)
                release(slot, dropCache: true)
            }
            return
        }
        totals.calls += 1
        totals.busySlots += participants.count
        totals.tokens += batch.count
        onDecode(totals)
        for slot in progressing where slot.job != nil { reportProgress(slot) }
        for slot in participants where slot.job != nil && slot.outputRow >= 0 {
            let row = slot.outputRow
            slot.outputRow = -1
            // The prompt is in: the speculator learns it (the n-gram types draft from it).
            if slot.firstTokenAt == nil { speculator?.begin(sequence: slot.sequence, prompt: slot.cached) }
            if !slot.draft.isEmpty {
                verifyDraft(of: slot, firstRow: row)
                continue
            }
            let token = slot.sampler!.sample(context, index: row)
            // llama-server's clock: the prompt's time runs until the first token is sampled, the
            // generation's from then until the last one is.
            let sampledAt = ContinuousClock.now
            if slot.firstTokenAt == nil { slot.firstTokenAt = sampledAt }
            slot.lastTokenAt = sampledAt
            accept(token, row: row, in: slot)
        }
    }

    // MARK: Speculation

    /// Asks the speculator for a draft for each generating slot whose pacing wants one, within the
    /// batch's room, the slot's context and its token limit; sets each slot's `draft`.
    private func draft(for generating: [Slot], with speculator: Speculator) {
        // Every slot's next token goes in first; the drafts share what is left evenly, or half of it
        // while prompts are waiting, so drafts never starve a new request's first token. All drafts of
        // a step together stay within `SpeculationOptions.stepDraftMax`: each drafted row keeps a row of
        // logits (n_vocab floats: 1 MiB for Gemma) in llama.cpp's output buffer and again in the compute
        // graph, buffers that grow to the largest step and never shrink, so 4 slots drafting 64 each
        // took a 270M model from 474 to 1015 MiB peak RSS; with several slots the step is
        // compute-bound too, and long drafts of rows that get rejected cost the others' tokens.
        let drafting = generating.filter { $0.pacing.isDue }.count
        let left = batch.capacity - generating.count
        let room = min((slots.contains(where: \.isReadingPrompt) ? left / 2 : left) / max(1, generating.count),
                       speculation.stepDraftMax / max(1, drafting))
        var asked: [Slot] = []
        for slot in generating {
            slot.draft = []
            guard let job = slot.job, let last = slot.pendingToken, slot.pacing.wantsDraft() else { continue }
            // As llama-server: room for the draft, the token after it and one more in the slot's context.
            var limit = min(max(slot.pacing.limit, speculation.draftMin), speculation.draftMax, room,
                            context.sequenceContextSize - slot.cached.count - 2)
            // The accepted tokens and the one sampled after them must not pass the request's limit.
            if let maxTokens = job.request.maxTokens { limit = min(limit, maxTokens - slot.generated - 1) }
            guard limit > 0, limit >= speculation.draftMin else { continue }
            speculator.request(sequence: slot.sequence, history: slot.cached, last: last, limit: limit)
            asked.append(slot)
        }
        guard !asked.isEmpty else { return }
        do {
            try speculator.draft()
        } catch {
            logger.warning("drafting failed; decoding without drafts this step", metadata: ["error": "\(error.message)"])
            return
        }
        for slot in asked {
            let draft = speculator.result(sequence: slot.sequence)
            if draft.count >= max(1, speculation.draftMin) { slot.draft = draft }
        }
    }

    /// Samples the rows of `slot`'s token and draft in turn, as llama.cpp's
    /// `common_sampler_sample_and_accept_n`: a drafted token is kept while it is the one the slot's
    /// sampler picks (never past an end of generation), and the first one it does not pick is
    /// replaced by the sampler's token. Rejected draft tokens leave the KV cache, so the slot holds
    /// exactly the tokens it generated, as without speculation.
    private func verifyDraft(of slot: Slot, firstRow: Int32) {
        let draft = slot.draft
        slot.draft = []
        var sampled: [(token: Token, row: Int32)] = []
        for index in 0...draft.count {
            let row = firstRow + Int32(index)
            let token = slot.sampler!.sample(context, index: row)
            sampled.append((token, row))
            guard index < draft.count, token == draft[index], !model.isEndOfGeneration(token) else { break }
        }
        let accepted = sampled.count - 1
        let rejected = draft.count - accepted
        if rejected > 0 {
            slot.cached.removeLast(rejected)
            guard context.removeTokens(sequence: slot.sequence, from: Int32(slot.cached.count)) else {
                logger.error("could not drop rejected draft tokens from the KV cache", metadata: ["slot": "\(slot.id)"])
                slot.job?.sink.finish(EngineError(.decodeFailed, "decoding failed: the KV cache could not drop a rejected draft"))
                release(slot, dropCache: true)
                return
            }
        }
        speculator?.accept(sequence: slot.sequence, accepted: accepted)
        slot.pacing.record(drafted: draft.count, accepted: accepted, draftMax: speculation.draftMax)
        slot.drafts.record(drafted: draft.count, accepted: accepted)
        totals.drafts.record(drafted: draft.count, accepted: accepted)
        slot.lastTokenAt = ContinuousClock.now
        for (token, row) in sampled where slot.job != nil {
            accept(token, row: row, in: slot)
        }
    }

    /// Tells the slot's client how far its prompt has come.
    private func reportProgress(_ slot: Slot) {
        guard let job = slot.job else { return }
        job.sink.receive(.promptProgress(PromptProgress(
            total: job.request.prompt.count, cached: slot.reusedTokens, processed: slot.cached.count,
            elapsed: slot.startedAt.map { .now - $0 } ?? .zero)))
    }

    private func accept(_ token: Token, row: Int32, in slot: Slot) {
        guard let job = slot.job else { return }
        if model.isEndOfGeneration(token) {
            // Sampled, so counted, as llama-server counts it (its text is never sent).
            slot.generated += 1
            finish(slot, .eos)
            return
        }
        slot.generated += 1
        slot.pendingTokens.append(token)
        let bytes = model.pieceBytes(token, special: job.request.visibleSpecialTokens.contains(token))
        if let top = job.request.logprobs {
            slot.pendingLogprobs.append(logprob(of: token, bytes: bytes, row: row, top: top))
        }
        let text = slot.decoder.append(bytes)
        switch slot.stopper.feed(text) {
        case .text(let visible):
            // Tokens whose text is held back (part of a character or of a possible stop string)
            // go out with the text they end up in.
            if !visible.isEmpty || (!slot.pendingLogprobs.isEmpty && slot.decoder.isEmpty) {
                let (logprobs, tokens) = slot.takePending()
                job.sink.receive(.text(visible, logprobs: logprobs, tokens: tokens))
            }
        case .stopped(let visible):
            if !visible.isEmpty {
                let (logprobs, tokens) = slot.takePending()
                job.sink.receive(.text(visible, logprobs: logprobs, tokens: tokens))
            }
            finish(slot, .word, flush: false)
            return
        }
        if let maxTokens = job.request.maxTokens, slot.generated >= maxTokens {
            finish(slot, .limit)
        } else if slot.cached.count + 1 >= context.sequenceContextSize {
            // No room to feed this token back: the context is full.
            finish(slot, .limit)
        } else {
            slot.pendingToken = token
        }
    }

    private func finish(_ slot: Slot, _ stopType: StopType, flush: Bool = true) {
        guard let job = slot.job else { return }
        var stopType = stopType
        if flush {
            let tail = slot.decoder.finish()
            var text: String
            switch slot.stopper.feed(tail) {
            case .text(let visible): text = visible + slot.stopper.flush()
            case .stopped(let visible): text = visible; stopType = .word
            }
            if !text.isEmpty || !slot.pendingTokens.isEmpty {
                let (logprobs, tokens) = slot.takePending()
                job.sink.receive(.text(text, logprobs: logprobs, tokens: tokens))
            }
        }
        let now = ContinuousClock.now
        let started = slot.startedAt ?? now
        let first = slot.firstTokenAt ?? now
        let last = slot.lastTokenAt ?? now
        let stats = GenerationStats(
            finishReason: stopType == .limit ? .length : .stop, promptTokens: job.request.prompt.count,
            cachedTokens: slot.reusedTokens, completionTokens: slot.generated, queueDuration: started - job.enqueued,
            promptDuration: first - started, generationDuration: last - first, slot: slot.id, stopType: stopType,
            stoppingWord: stopType == .word ? slot.stopper.matched ?? "" : "", contextTokens: slot.cached.count,
            drafts: slot.drafts)
        // Free the slot, and say so to /slots, before the client hears it is done: a client that asks
        // /slots after its answer must find the slot idle.
        release(slot, dropCache: false)
        onRelease(snapshots())
        job.sink.receive(.finished(stats))
        job.sink.finish(nil)
    }

    private func logprob(of token: Token, bytes: [UInt8], row: Int32, top: Int) -> TokenLogprob {
        let vocabulary = model.vocabularySize
        guard let logits = context.logits(at: row) else {
            return TokenLogprob(id: token, token: String(decoding: bytes, as: UTF8.self), bytes: bytes, logprob: 0, top: [])
        }
        let maxLogit = logits[SamplerChain.firstIndexOfMaximum(UnsafeBufferPointer(start: logits, count: vocabulary))]
        var sum: Double = 0
        for i in 0..<vocabulary { sum += Double(expf(logits[i] - maxLogit)) }
        let logSum = Double(maxLogit) + log(sum)
        var best: [(Token, Float)] = []
        if top > 0 {
            for i in 0..<vocabulary {
                let value = logits[i]
                if best.count < top || value > best[best.count - 1].1 {
                    let position = best.firstIndex { $0.1 < value } ?? best.count
                    best.insert((Token(i), value), at: position)
                    if best.count > top { best.removeLast() }
                }
            }
        }
        let alternatives = best.map { candidate in
            let candidateBytes = model.pieceBytes(candidate.0)
            return TokenLogprob.Alternative(id: candidate.0, token: String(decoding: candidateBytes, as: UTF8.self), bytes: candidateBytes,
                                            logprob: Double(candidate.1) - logSum)
        }
        return TokenLogprob(id: token, token: String(decoding: bytes, as: UTF8.self), bytes: bytes,
                            logprob: Double(logits[Int(token)]) - logSum, top: alternatives)
    }
}

/// One parallel sequence of the context and the request it is serving.
final class Slot {
    let id: Int
    var sequence: Int32 { Int32(id) }
    /// Tokens whose keys and values are in the cache for this sequence, in order.
    var cached: [Token] = []
    var job: InferenceEngine.Job?
    var sampler: SamplerChain?
    var promptIndex = 0
    var pendingToken: Token?
    /// Tokens drafted to follow `pendingToken`, verified in the same step.
    var draft: [Token] = []
    var pacing = DraftPacing()
    /// This request's drafts.
    var drafts = DraftCounts()
    var outputRow: Int32 = -1
    var generated = 0
    var reusedTokens = 0
    var lastUsed: UInt64 = 0
    var lastTaskID = -1
    var lastPromptTokens = 0
    /// The request this slot served last, for /slots (llama-server shows its parameters).
    var lastRequest: GenerationRequest?
    var startedAt: ContinuousClock.Instant?
    var firstTokenAt: ContinuousClock.Instant?
    var lastTokenAt: ContinuousClock.Instant?
    var decoder = UTF8StreamDecoder()
    var stopper = StopStringMatcher([])
    var pendingLogprobs: [TokenLogprob] = []
    /// Tokens generated since the last text event.
    var pendingTokens: [Token] = []

    init(id: Int) { self.id = id }

    var isReadingPrompt: Bool { job.map { promptIndex < $0.request.prompt.count } ?? false }

    func begin(_ job: InferenceEngine.Job, sampler: SamplerChain, reused: Int, use: UInt64) {
        self.job = job
        self.sampler = sampler
        promptIndex = reused
        reusedTokens = reused
        pendingToken = nil
        draft = []
        pacing = DraftPacing()
        drafts = DraftCounts()
        outputRow = -1
        generated = 0
        lastUsed = use
        startedAt = .now
        firstTokenAt = nil
        lastTokenAt = nil
        decoder = UTF8StreamDecoder()
        stopper = StopStringMatcher(job.request.stop)
        pendingLogprobs = []
        pendingTokens = []
    }

    func end() {
        lastTaskID = job.map { Int($0.id) } ?? lastTaskID
        lastPromptTokens = job?.request.prompt.count ?? lastPromptTokens
        lastRequest = job?.request ?? lastRequest
        job = nil
        sampler = nil
        pendingToken = nil
        draft = []
        outputRow = -1
    }

    /// The log-probabilities and ids of the tokens since the last text event.
    func takePending() -> ([TokenLogprob], [Token]) {
        defer {
            pendingLogprobs = []
            pendingTokens = []
        }
        return (pendingLogprobs, pendingTokens)
    }
}
