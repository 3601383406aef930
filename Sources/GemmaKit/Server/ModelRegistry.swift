import Foundation
import Hummingbird
import Logging
import Synchronization

/// Every model the server serves (`-m` given once or several times), and which of them are loaded.
///
/// A request names its model; one that is not loaded is loaded then (unless `--no-models-autoload`),
/// and requests that arrive meanwhile wait for that one load. Before a load the planner's estimate
/// for the model is checked against the memory budget minus the loaded models' estimates: idle
/// models (no request in flight) are unloaded, least recently used first, until it fits and
/// `--models-max` holds; when every loaded model is busy the request is refused with a 503 and
/// `Retry-After` (it does not wait: a slot frees in seconds, a model in far longer). A model that
/// could never fit is refused at start. Models idle for `--keep-alive` are unloaded.
public final class ModelRegistry: Sendable {
    /// What a model's bookkeeping holds besides its `ModelHost.State`.
    struct Record: Sendable {
        /// Requests holding the model (taken by `acquire`, given back by `release`).
        var leases = 0
        var lastUsed = ContinuousClock.now
        /// When an idle model is unloaded; nil: kept until evicted.
        var expiresAt: ContinuousClock.Instant?
        /// The load in progress, which concurrent requests wait for.
        var load: Task<Void, any Error>?
        /// Loads started, for tests and `/models`.
        var loads = 0
    }

    /// The models, the default (the first `-m`) first.
    public let hosts: [ModelHost]
    private let records: Mutex<[Record]>
    /// Memory the loaded models' plans may add up to; nil: unlimited.
    let budget: UInt64?
    let modelsMax: Int
    let keepAlive: Duration?
    let autoload: Bool
    private let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "gemmactl.serve")) {
        let served = configuration.servedModels
        hosts = served.enumerated().map { index, model in ModelHost(configuration: model, state: index == 0 ? .loading : .unloaded) }
        records = Mutex(Array(repeating: Record(), count: served.count))
        // Without load-on-startup models, readiness is the default model's alone, from the moment it loads.
        startupDone = Mutex(!hosts.dropFirst().contains { $0.configuration.loadOnStartup })
        budget = configuration.memoryBudget.map { $0 > MemoryPlanner.processBaseBytes ? $0 - MemoryPlanner.processBaseBytes : 0 }
        modelsMax = configuration.modelsMax
        // One model is unloaded for being idle only to sleep (--sleep-idle-seconds): there is nothing else to make room for.
        keepAlive = served.count > 1 ? configuration.keepAlive : configuration.sleepIdle
        autoload = configuration.modelsAutoload
        self.logger = logger
    }

    /// The default model: the one a request without a name gets, and the one /ready watches.
    public var defaultHost: ModelHost { hosts[0] }

    /// Whether requests pick among several models (a single model answers any name).
    public var isRouting: Bool { hosts.count > 1 }

    /// The model a request names: any of its names, or the default when the request names none.
    /// With a single model any name is that model, as before several models could be served.
    public func host(named name: String?) throws -> ModelHost {
        guard isRouting, let name, !name.isEmpty else { return defaultHost }
        if let host = hosts.first(where: { $0.names.contains(name) }) { return host }
        throw APIError.modelNotFound(name, available: hosts.map(\.modelID))
    }

    /// Whether a single model sleeps when idle (`--sleep-idle-seconds`).
    public var sleepsWhenIdle: Bool { !isRouting && keepAlive != nil }

    /// Whether a single model sleeps: unloaded for being idle (`--sleep-idle-seconds`), woken by the next request.
    public func isSleeping(_ host: ModelHost) -> Bool {
        sleepsWhenIdle && host.isFreed
    }

    /// Whether the models that load at start after the default (each `load-on-startup` one) have
    /// been loaded, or tried: until then the server is not ready.
    public var startupLoadsDone: Bool { startupDone.withLock { $0 } }
    private let startupDone: Mutex<Bool>

    func startupLoadsFinished() { startupDone.withLock { $0 = true } }

    /// Whether idle models are ever unloaded, which the server checks each second.
    var unloadsIdle: Bool { isRouting || keepAlive != nil }

    /// Starts the model's keep-alive once it is loaded with no request holding it (at start, or by `POST /models/load`).
    func loadedIdle(_ host: ModelHost) {
        let target = index(host)
        records.withLock { records in
            records[target].lastUsed = .now
            if records[target].leases == 0 { records[target].expiresAt = keepAlive.map { .now + $0 } }
        }
    }

    /// Loads of the model started so far.
    public func loadCount(_ host: ModelHost) -> Int { records.withLock { $0[index(host)].loads } }

    /// When an idle model is to be unloaded, if it is.
    func expiry(_ host: ModelHost) -> ContinuousClock.Instant? { records.withLock { $0[index(host)].expiresAt } }

    private func index(_ host: ModelHost) -> Int { hosts.firstIndex { $0 === host }! }

    // MARK: Loading

    private enum Step {
        case ready(ModelHost.Loaded)
        case wait(Task<Void, any Error>)
    }

    /// The model loaded, loading it first when it is not (and counting a lease until `release`,
    /// when `lease` is set). `explicit` loads even with `--no-models-autoload` (`POST /models/load`).
    func acquire(_ host: ModelHost, lease: Bool, explicit: Bool = false) async throws -> ModelHost.Loaded {
        let target = index(host)
        while true {
            let step: Step = try records.withLock { records in
                switch host.current {
                case .ready(let loaded):
                    if lease { records[target].leases += 1 }
                    records[target].lastUsed = .now
                    records[target].expiresAt = nil
                    return .ready(loaded)
                case .loading:
                    if let load = records[target].load { return .wait(load) }
                    // The default model, loaded at start by `ModelService`: wait for it as before.
                    throw APIError.loading
                case .unloaded, .failed:
                    guard autoload || explicit else { throw APIError.modelNotLoaded(host.modelID, autoload: false) }
                    let evicted = try makeRoom(for: target, in: &records)
                    records[target].loads += 1
                    let load = Task { [logger] in
                        for victim in evicted {
                            logger.info("model unloaded to make room", metadata: ["model": "\(victim.host.modelID)", "for": "\(host.modelID)"])
                            await victim.host.free(victim.loaded)
                        }
                        try await host.load()
                    }
                    records[target].load = load
                    records[target].expiresAt = nil
                    // Marked now, so a request that comes before the task runs waits for it too.
                    host.markLoading()
                    return .wait(load)
                }
            }
            switch step {
            case .ready(let loaded):
                if !lease { loadedIdle(host) }
                return loaded
            case .wait(let load):
                do {
                    try await load.value
                    logger.info("model loaded", metadata: ["model": "\(host.modelID)"])
                } catch {
                    logger.error("the model failed to load", metadata: ["model": "\(host.modelID)", "error": "\(error)"])
                    throw APIError.modelFailed(host.modelID)
                }
                // Taken (with its lease) on the next turn; it may have been evicted meanwhile, then it loads again.
            }
        }
    }

    /// Picks the idle models to unload so that `target` fits the budget and `--models-max`, least
    /// recently used first, and marks them unloaded; a 503 when the busy ones leave no room.
    private func makeRoom(for target: Int, in records: inout [Record]) throws -> [(host: ModelHost, loaded: ModelHost.Loaded)] {
        let need = hosts[target].plannedBytes() ?? 0
        if let budget, need > budget { throw APIError.neverFits(hosts[target].modelID, need: need, budget: budget) }
        let resident = hosts.indices.filter { $0 != target && hosts[$0].isResident }
        var used = resident.reduce(UInt64(0)) { $0 + (hosts[$1].plannedBytes() ?? 0) }
        var count = resident.count
        var idle = resident.filter { records[$0].leases == 0 && hosts[$0].isReady }.sorted { records[$0].lastUsed < records[$1].lastUsed }
        var evicted: [(host: ModelHost, loaded: ModelHost.Loaded)] = []
        while count + 1 > modelsMax || budget.map({ used + need > $0 }) == true {
            guard !idle.isEmpty else {
                let budgetText = budget.map { " and \(MemoryPlanner.quantity(used)) of the \(MemoryPlanner.quantity($0)) budget" } ?? ""
                throw APIError.noRoom(hosts[target].modelID, reason: "\(count) loaded model\(count == 1 ? "" : "s") (of --models-max \(modelsMax))\(budgetText) "
                                      + "are busy, and \(hosts[target].modelID) needs \(MemoryPlanner.quantity(need))")
            }
            let victim = idle.removeFirst()
            used -= hosts[victim].plannedBytes() ?? 0
            count -= 1
            if let loaded = hosts[victim].detach() { evicted.append((hosts[victim], loaded)) }
        }
        return evicted
    }

    /// Gives back a lease taken by `acquire`: the model becomes idle once no request holds it, and
    /// is unloaded after `keepAlive` (the request's, else the server's; zero: now).
    func release(_ host: ModelHost, keepAlive requested: KeepAlive?) async {
        let target = index(host)
        let unloadNow = records.withLock { records -> Bool in
            records[target].leases -= 1
            records[target].lastUsed = .now
            guard records[target].leases == 0 else { return false }
            // A single model keeps the server's rule (sleep or stay): a client's keep_alive does not unload it.
            switch isRouting ? requested : nil {
            case .forever?: records[target].expiresAt = nil
            case .after(let duration)?: records[target].expiresAt = .now + duration
            case nil: records[target].expiresAt = keepAlive.map { .now + $0 }
            }
            return records[target].expiresAt.map { $0 <= .now } ?? false
        }
        if unloadNow { await unload(host) }
    }

    /// Unloads the model unless a request holds it; true when it was unloaded (or was not loaded).
    @discardableResult
    func unload(_ host: ModelHost) async -> Bool {
        let target = index(host)
        let free = records.withLock { records -> Bool in
            guard records[target].leases == 0, !host.isLoading else { return false }
            records[target].expiresAt = nil
            return true
        }
        guard free else { return false }
        if host.isReady { logger.info("model unloaded", metadata: ["model": "\(host.modelID)"]) }
        await host.unload()
        return true
    }

    /// Unloads the idle models whose keep-alive has run out.
    func unloadExpired() async {
        let now = ContinuousClock.now
        let expired = records.withLock { records in
            hosts.indices.filter { records[$0].leases == 0 && records[$0].expiresAt.map { $0 <= now } == true }
        }
        for index in expired { await unload(hosts[index]) }
    }

    /// Refuses, before the server starts, a model asked for that could not fit the budget even alone
    /// (one found in the shared cache is refused only when a request names it).
    func checkEachFits() throws(ServeError) {
        guard let budget else { return }
        for host in hosts where !host.configuration.foundInCache {
            guard let need = host.plannedBytes(), need > budget else { continue }
            throw ServeError("\(host.modelID) needs \(MemoryPlanner.quantity(need + MemoryPlanner.processBaseBytes)) as planned "
                             + "(gemmactl plan -m \(host.configuration.modelSource?.description ?? host.configuration.modelPath)), "
                             + "more than the memory budget of \(MemoryPlanner.quantity(budget + MemoryPlanner.processBaseBytes))",
                             recovery: "raise --memory-budget (or the pod's memory limit), or give that model a smaller --ctx-size or --parallel")
        }
    }

    /// Stops every engine (at shutdown).
    func shutdown() async {
        for host in hosts { await host.shutdown() }
    }
}

/// Ollama's `keep_alive`: how long a model stays loaded after a request.
public enum KeepAlive: Sendable, Equatable {
    /// A negative value: until evicted.
    case forever
    /// Zero unloads as the request ends.
    case after(Duration)

    /// `--keep-alive`'s value: a duration (`5m`, `1h`), a number of seconds, `0`, or a negative
    /// number for "keep"; a `Setting` parser.
    public static func parse(_ text: String) throws(InputError) -> KeepAlive {
        do { return try parse(JSONValue.string(text)) } catch {
            throw InputError("must be a duration such as 5m or 1h, a number of seconds, 0 (unload at once) or -1 (keep), got '\(text)'")
        }
    }

    /// How `--help` shows a value.
    public static func describe(_ keepAlive: KeepAlive) -> String {
        switch keepAlive {
        case .forever: "-1"
        case .after(let duration): DurationText.format(duration)
        }
    }

    /// The server's default: nil for a model kept until evicted.
    public var duration: Duration? {
        if case .after(let duration) = self { return duration }
        return nil
    }

    /// A number of seconds or a duration text (`5m`, `1h`, `0`, `-1`), as Ollama reads it.
    static func parse(_ value: JSONValue) throws(APIError) -> KeepAlive {
        switch value {
        case .integer(let seconds): return seconds < 0 ? .forever : .after(.seconds(seconds))
        case .number(let seconds): return seconds < 0 ? .forever : .after(.milliseconds(Int64(seconds * 1000)))
        case .string(let text):
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-") { return .forever }
            if let seconds = Double(trimmed) { return .after(.milliseconds(Int64(seconds * 1000))) }
            guard let duration = try? DurationText.parse(trimmed) else {
                throw APIError.badRequest("'keep_alive' must be a duration such as 5m, 1h or 0, or a number of seconds; got \"\(text)\"",
                                          param: "keep_alive")
            }
            return .after(duration)
        default:
            throw APIError.badRequest("'keep_alive' must be a duration such as 5m or a number of seconds", param: "keep_alive")
        }
    }
}

/// The models one request holds, given back once its answer has been written (a streamed answer
/// holds its model until the stream ends), with the request's `keep_alive`.
final class RequestLeases: Sendable {
    /// The request being served's, set by `ModelLeaseMiddleware`.
    @TaskLocal static var current: RequestLeases?

    private let state = Mutex<(hosts: [ModelHost], keepAlive: KeepAlive?)>(([], nil))

    func hold(_ host: ModelHost) { state.withLock { $0.hosts.append(host) } }

    /// The request's own `keep_alive` (Ollama's), applied when its leases are given back.
    func keepAlive(_ keepAlive: KeepAlive?) { state.withLock { $0.keepAlive = keepAlive } }

    var isEmpty: Bool { state.withLock { $0.hosts.isEmpty } }

    func release(to registry: ModelRegistry) async {
        let (hosts, keepAlive) = state.withLock { state in
            defer { state.hosts = [] }
            return state
        }
        for host in hosts { await registry.release(host, keepAlive: keepAlive) }
    }
}

/// Counts each request against the models it uses until its answer is written, so that a model
/// serving a request is never unloaded under it, and idle ones can be.
struct ModelLeaseMiddleware<Context: RequestContext>: RouterMiddleware {
    let registry: ModelRegistry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let leases = RequestLeases()
        var response: Response
        do {
            response = try await RequestLeases.$current.withValue(leases) { try await next(request, context) }
        } catch {
            await leases.release(to: registry)
            throw error
        }
        guard !leases.isEmpty else { return response }
        guard response.body.contentLength == nil else {
            // A whole answer: given back before it goes out, so a client that reads it sees `keep_alive: 0` done.
            await leases.release(to: registry)
            return response
        }
        let body = response.body
        response.body = ResponseBody { [registry] writer in
            do {
                try await body.write(writer)
            } catch {
                await leases.release(to: registry)
                throw error
            }
            await leases.release(to: registry)
        }
        return response
    }
}
