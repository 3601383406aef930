import Hummingbird
import NIOCore

/// The request context of `gemmactl serve`: Hummingbird's basics plus the request's connection:
/// its event loop, where streamed answers are written from (see `EventLoopTaskExecutor`), and its
/// `ConnectionWatcher`.
public struct ServeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's connection.
    let channel: any Channel
    /// The event loop that owns the request's channel.
    public var eventLoop: any EventLoop { channel.eventLoop }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
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
