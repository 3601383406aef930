import Hummingbird
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Watches one client connection, in its channel pipeline (one per connection).
///
/// - It tells a waiting handler when the client has gone: the connection closed, or the client
///   closed its side (an HTTP client does so only when it gives up; the server lets connections
///   half-close, so that alone does not close the channel). An answer sent whole writes nothing
///   until the generation ends, so without this an abandoned request would hold its slot until
///   max_tokens.
/// - It closes the connection after a response that says `Connection: close` (413 before an
///   unread body, 400 for broken framing), so the rest of a refused body is not read.
final class ConnectionWatcher: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private struct Watchers {
        var gone = false
        var nextID = 0
        var actions: [Int: @Sendable () -> Void] = [:]
    }

    private let watchers = Mutex(Watchers())
    /// Event loop only.
    private var closeAfterResponse = false

    /// A registration made by `onGone`; `cancel()` it once the answer no longer needs watching.
    struct Registration: Sendable {
        fileprivate let id: Int
        fileprivate weak var watcher: ConnectionWatcher?

        func cancel() { _ = watcher?.watchers.withLock { $0.actions.removeValue(forKey: id) } }
    }

    /// Calls `action` once, on the event loop, when the client goes away; at once if it already has.
    func onGone(_ action: @escaping @Sendable () -> Void) -> Registration {
        let id: Int? = watchers.withLock { state in
            guard !state.gone else { return nil }
            defer { state.nextID += 1 }
            state.actions[state.nextID] = action
            return state.nextID
        }
        guard let id else {
            action()
            return Registration(id: -1, watcher: nil)
        }
        return Registration(id: id, watcher: self)
    }

    /// Whether the client has gone away.
    var isGone: Bool { watchers.withLock { $0.gone } }

    private func clientWent() {
        let actions = watchers.withLock { state in
            state.gone = true
            defer { state.actions = [:] }
            return Array(state.actions.values)
        }
        for action in actions { action() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { clientWent() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientWent()
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            closeAfterResponse = head.headerFields[.connection]?.lowercased() == "close"
        case .end where closeAfterResponse:
            let written = promise ?? context.eventLoop.makePromise()
            let channel = context.channel
            context.write(data, promise: written)
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            return
        default:
            break
        }
        context.write(data, promise: promise)
    }
}

extension ServeRequestContext {
    /// The watcher of this request's connection (nil only if the pipeline has none).
    func connectionWatcher() async -> ConnectionWatcher? {
        try? await channel.pipeline.handler(type: ConnectionWatcher.self).get()
    }
}
