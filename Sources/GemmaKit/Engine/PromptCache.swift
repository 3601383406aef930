/// Prompt KV states kept in host memory after their slot moved on to another conversation
/// (llama-server's `--cache-ram`): when a conversation comes back, the slot it lands on restores
/// the longest cached prefix instead of evaluating the history again.
///
/// Engine thread only, like the scheduler that owns it. Entries are evicted least recently used
/// first once their bytes pass the budget.
final class PromptCache {
    struct Entry {
        /// The tokens whose keys and values `state` holds, in order from position 0.
        let tokens: [Token]
        /// A sequence's state as `llama_state_seq_get_data` wrote it.
        let state: [UInt8]
        var lastUsed: UInt64
    }

    /// Bytes the entries may hold together; nil: no limit.
    let budget: Int?
    /// Shorter prefixes are cheaper to evaluate again than to copy, and not kept.
    static let minimumTokens = 32

    private(set) var entries: [Entry] = []
    private var useCounter: UInt64 = 0

    /// `budgetMiB` as llama-server's `--cache-ram`: MiB, -1 for no limit (0 means no cache: do
    /// not create one).
    init(budgetMiB: Int) {
        precondition(budgetMiB != 0, "a zero budget means no prompt cache")
        budget = budgetMiB < 0 ? nil : budgetMiB * 1024 * 1024
    }

    var byteCount: Int { entries.reduce(0) { $0 + $1.state.count } }
    var tokenCount: Int { entries.reduce(0) { $0 + $1.tokens.count } }

    /// The entry sharing the longest prefix with `prompt`, and that length.
    func longestMatch(for prompt: [Token]) -> (index: Int, length: Int)? {
        var best: (index: Int, length: Int)?
        for (index, entry) in entries.enumerated() {
            let length = Scheduler.commonPrefixLength(entry.tokens, prompt)
            if length > (best?.length ?? 0) { best = (index, length) }
        }
        return best
    }

    /// The entry at `index`, marked as just used.
    func use(_ index: Int) -> Entry {
        useCounter += 1
        entries[index].lastUsed = useCounter
        return entries[index]
    }

    /// Whether a slot holding `tokens` has anything the cache lacks: it is long enough and no
    /// entry already holds it or more of the same conversation.
    func wouldKeep(_ tokens: [Token]) -> Bool {
        guard tokens.count >= Self.minimumTokens else { return false }
        return !entries.contains { $0.tokens.count >= tokens.count && $0.tokens.starts(with: tokens) }
    }

    /// Stores a slot's state; entries that are prefixes of it go (it holds them), then the least
    /// recently used ones until the budget holds. A state larger than the whole budget is not kept.
    func insert(tokens: [Token], state: [UInt8]) {
        if let budget, state.count > budget { return }
        entries.removeAll { $0.tokens.count <= tokens.count && tokens.starts(with: $0.tokens) }
        useCounter += 1
        entries.append(Entry(tokens: tokens, state: state, lastUsed: useCounter))
        guard let budget else { return }
        var total = byteCount
        while total > budget, let oldest = entries.indices.min(by: { entries[$0].lastUsed < entries[$1].lastUsed }) {
            total -= entries[oldest].state.count
            entries.remove(at: oldest)
        }
    }
}
