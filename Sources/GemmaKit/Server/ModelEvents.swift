import Foundation
import Synchronization

/// One change to the served models, as llama-server's `/models/sse` sends it: `status_change`
/// (with `data.status`), `model_added`, `model_remove`, `download_progress`, `download_finished`,
/// `download_failed`.
struct ModelEvent: Encodable, Sendable, Equatable {
    var model: String
    var event: String
    var data: [String: JSONValue]?
}

/// Hands each `ModelEvent` to every `/models/sse` stream open at the time; a stream that falls
/// behind keeps the newest 256 events.
final class ModelEvents: Sendable {
    private let subscribers = Mutex<[UUID: AsyncStream<ModelEvent?>.Continuation]>([:])

    /// The events from now on, until the server stops or the caller stops reading, with a nil every
    /// `pingInterval` while nothing happens, so that a reader whose client has gone finds out.
    /// `stop` ends the stream (the server shutting down).
    func subscribe(pingInterval: Duration) -> (events: AsyncStream<ModelEvent?>, stop: @Sendable () -> Void) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: ModelEvent?.self, bufferingPolicy: .bufferingNewest(256))
        let pinger = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: pingInterval)
                continuation.yield(nil)
            }
        }
        continuation.onTermination = { [weak self] _ in
            pinger.cancel()
            self?.subscribers.withLock { _ = $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = continuation }
        return (stream, { continuation.finish() })
    }

    func publish(_ event: ModelEvent) {
        for continuation in subscribers.withLock({ Array($0.values) }) { continuation.yield(event) }
    }

    /// A model's new state: `unloaded`, `loading` or `loaded`, and `failed` after a failed load.
    func statusChanged(_ model: String, to state: ModelHost.State) {
        var data: [String: JSONValue] = ["status": .string(state.name)]
        if state.isFailed { data["failed"] = .bool(true) }
        publish(ModelEvent(model: model, event: "status_change", data: data))
    }

    /// Ends every stream (at shutdown).
    func finish() {
        for continuation in subscribers.withLock({ Array($0.values) }) { continuation.finish() }
    }
}
