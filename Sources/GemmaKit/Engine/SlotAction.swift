import Foundation

/// What `POST /slots/{id}?action=…` asks of one idle slot (llama-server's slot actions). Files
/// are named by the caller, already checked to lie in `--slot-save-path`.
public enum SlotAction: Sendable, Equatable {
    /// Writes the slot's cached tokens and their KV state to a file (atomically, mode 0600).
    case save(to: URL)
    /// Replaces the slot's cache with a file that `save` wrote.
    case restore(from: URL)
    /// Empties the slot's cache.
    case erase
}

/// What a slot action did.
public struct SlotActionResult: Sendable, Equatable {
    /// Tokens saved, restored or erased.
    public var tokens: Int
    /// Bytes written or read (0 for erase).
    public var bytes: Int
    public var duration: Duration
}
