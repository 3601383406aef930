/// OpenAI's `n` (llama-server's `n_cmpl`): how many choices to generate, at most one per slot
/// as llama-server allows, so they run side by side.
enum Choices {
    static func count(_ n: Int?, slotCount: Int) throws -> Int {
        guard let n else { return 1 }
        guard (1...slotCount).contains(n) else {
            throw APIError.badRequest("'n' must be between 1 and \(slotCount) (this server's --parallel slots), got \(n)", param: "n")
        }
        return n
    }

    /// `request` once per choice: choices after the first get the next seeds (so a fixed seed
    /// does not give n copies) and no pinned slot, as llama-server's child tasks.
    static func requests(_ request: GenerationRequest, count: Int) -> [GenerationRequest] {
        (0..<count).map { choice in
            var copy = request
            guard choice > 0 else { return copy }
            copy.slot = nil
            copy.sampling.seed = request.sampling.seed.map { $0 &+ UInt32(choice) }
            return copy
        }
    }
}
