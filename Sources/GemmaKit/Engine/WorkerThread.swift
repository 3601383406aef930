import Foundation

/// A thread that runs submitted closures one at a time, in order; for C state owned by one thread.
final class WorkerThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopping = false

    init(name: String) {
        let thread = Thread { [condition] in
            nameCurrentThread(name)
            while true {
                condition.lock()
                while self.jobs.isEmpty && !self.stopping { condition.wait() }
                if self.jobs.isEmpty { condition.unlock(); return }
                let job = self.jobs.removeFirst()
                condition.unlock()
                job()
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Runs `body` on the thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            condition.withLock {
                jobs.append { continuation.resume(with: Result { try body() }) }
                condition.signal()
            }
        }
    }

    /// Runs `last` on the thread after everything queued, then ends the thread.
    func stop(_ last: @escaping () -> Void) {
        condition.withLock {
            jobs.append(last)
            stopping = true
            condition.signal()
        }
    }
}

extension WorkerThread {
    /// Runs `body` on a new thread that ends afterwards.
    func runOnce<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        defer { stop {} }
        return try await run(body)
    }
}
