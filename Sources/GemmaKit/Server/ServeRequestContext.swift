import Hummingbird
import NIOCore

/// The request context of `gemmactl serve`: Hummingbird's basics plus the event loop of the
/// request's connection, where streamed answers are written from (see `EventLoopTaskExecutor`).
public struct ServeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The event loop that owns the request's channel.
    public let eventLoop: any EventLoop

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        eventLoop = source.channel.eventLoop
    }
}

/// Runs a task's jobs on a NIO event loop.
///
/// A streamed answer is a task that waits for the engine's next event and writes it to the
/// connection. On the default executor each token wakes a pool thread, which then hands the write
/// to the connection's event loop, waking that too. Run on the connection's own loop, the task is
/// woken there directly and its write goes straight to the channel: one thread wake per token
/// instead of two, on machines where every wake takes CPU from the decode threads.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
