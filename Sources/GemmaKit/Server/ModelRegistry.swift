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

    /// The models and their bookkeeping, index for index; the default model is first and stays.
    /// Models are added (`add`) and removed (`remove`) while the server runs, under model management.
    struct Table: Sendable {
        var hosts: [ModelHost]
        var records: [Record]

        func index(_ host: ModelHost) -> Int? { hosts.firstIndex { $0 === host } }
    }

    private let table: Mutex<Table>
    /// Each served model's configuration is this one with its own model (`ServerConfiguration.serving`).
    private let base: ServerConfiguration
    /// Memory the loaded models' plans may add up to; nil: unlimited.
    let budget: UInt64?
    /// The server-wide settings of the models (the first's configuration holds them).
    var modelsMax: Int { base.modelsMax }
    private var routingKeepAlive: Duration? { base.keepAlive }
    private var sleepIdle: Duration? { base.sleepIdle }
    var autoload: Bool { base.modelsAutoload }
    /// A request's `model` must name a model even when there is one (`--allow-model-management`).
    private var namesRequired: Bool { base.allowModelManagement }
    /// Loads, unloads, downloads and removals, for `/models/sse`.
    let events: ModelEvents
    private let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "gemmactl.serve")) {
        let served = configuration.servedModels
        let events = ModelEvents()
        self.events = events
        let hosts = served.enumerated().map { index, model in
            ModelHost(configuration: model, state: index == 0 ? .loading : .unloaded, events: events)
        }
        table = Mutex(Table(hosts: hosts, records: Array(repeating: Record(), count: hosts.count)))
        base = served[0]
        // Without load-on-startup models, readiness is the default model's alone, from the moment it loads.
        startupDone = Mutex(!hosts.dropFirst().contains { $0.configuration.loadOnStartup })
        budget = configuration.memoryBudget.map { $0 > MemoryPlanner.processBaseBytes ? $0 - MemoryPlanner.processBaseBytes : 0 }
        self.logger = logger
    }

    /// The models, the default first.
    public var hosts: [ModelHost] { table.withLock { $0.hosts } }

    /// The default model: the one a request without a name gets, and the one /ready watches.
    public var defaultHost: ModelHost { table.withLock { $0.hosts[0] } }

    /// Whether requests pick among several models (a single model answers any name).
    public var isRouting: Bool { table.withLock { $0.hosts.count > 1 } }

    /// How long an idle model stays loaded: `--keep-alive` among several models; a single model is
    /// unloaded for being idle only to sleep (`--sleep-idle-seconds`), there being nothing else to make room for.
    var keepAlive: Duration? { isRouting ? routingKeepAlive : sleepIdle }

    /// The model a request names: any of its names, or the default when the request names none.
    /// With a single model any name is that model, as before several models could be served, unless
    /// clients manage the models (`namesRequired`): a name deleted must not quietly reach another model.
    public func host(named name: String?) throws -> ModelHost {
        let hosts = hosts
        guard hosts.count > 1 || namesRequired, let name, !name.isEmpty else { return hosts[0] }
        if let host = hosts.first(where: { $0.names.contains(name) }) { return host }
        throw APIError.modelNotFound(name, available: hosts.map(\.modelID))
    }

    /// The model that has `name` among its names, even when it is the only one; a 404 otherwise
    /// (what model management acts on: it never takes a name for the default).
    public func host(exactlyNamed name: String) throws(APIError) -> ModelHost {
        let hosts = hosts
        if let host = hosts.first(where: { $0.names.contains(name) }) { return host }
        throw APIError.modelNotFound(name, available: hosts.map(\.modelID))
    }

    /// Whether a single model sleeps when idle (`--sleep-idle-seconds`).
    public var sleepsWhenIdle: Bool { !isRouting && sleepIdle != nil }

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
    var unloadsIdle: Bool { isRouting || sleepIdle != nil }

    /// Starts the model's keep-alive once it is loaded with no request holding it (at start, or by `POST /models/load`).
    func loadedIdle(_ host: ModelHost) {
        let keepAlive = keepAlive
        table.withLock { table in
            guard let target = table.index(host) else { return }
            table.records[target].lastUsed = .now
            if table.records[target].leases == 0 { table.records[target].expiresAt = keepAlive.map { .now + $0 } }
        }
    }

    /// Loads of the model started so far.
    public func loadCount(_ host: ModelHost) -> Int { table.withLock { table in table.index(host).map { table.records[$0].loads } ?? 0 } }

    /// When an idle model is to be unloaded, if it is.
    func expiry(_ host: ModelHost) -> ContinuousClock.Instant? {
        table.withLock { table in table.index(host).flatMap { table.records[$0].expiresAt } }
    }

    // MARK: Models added and removed at run time

    /// Serves one more model (model management: a pull, a copy), unloaded until a request names it.
    /// A 409 when one of its names is already another model's id.
    @discardableResult
    func add(_ choice: ModelChoice) throws(APIError) -> ModelHost {
        let host = ModelHost(configuration: base.serving(choice), state: .unloaded, events: events)
        try table.withLock { table throws(APIError) in
            let ids = Set(table.hosts.map(\.modelID))
            if let clash = host.names.first(where: ids.contains) {
                throw APIError(.conflict, "a model named '\(clash)' is already served", param: "model")
            }
            table.hosts.append(host)
            table.records.append(Record())
        }
        logger.info("model added", metadata: ["model": "\(host.modelID)"])
        events.publish(ModelEvent(model: host.modelID, event: "model_added", data: ["status": .string("unloaded")]))
        return host
    }

    /// Stops serving the models in `hosts` and runs `removeFiles` while none of them can be loaded:
    /// refused with a 409 (nothing changed) when one is the default model, is loaded or loading, or
    /// is answering a request; when `removeFiles` throws, they are all still served.
    func remove(_ hosts: [ModelHost], removeFiles: () throws -> Void) throws {
        try table.withLock { table in
            let targets = hosts.compactMap(table.index)
            for target in targets {
                let host = table.hosts[target]
                guard target != 0 else {
                    throw APIError(.conflict, "'\(host.modelID)' is the server's default model, which it keeps", param: "model")
                }
                guard table.records[target].leases == 0, !host.isResident else {
                    throw APIError(.conflict, "the model '\(host.modelID)' is loaded or loading; unload it first "
                                   + "(POST /models/unload, or a request with keep_alive 0) once its requests are done", param: "model")
                }
            }
            try removeFiles()
            for target in targets.sorted(by: >) {
                table.hosts.remove(at: target)
                table.records.remove(at: target)
            }
        }
        for host in hosts {
            logger.info("model removed", metadata: ["model": "\(host.modelID)"])
            events.publish(ModelEvent(model: host.modelID, event: "model_remove"))
        }
    }

    // MARK: Loading

    private enum Step {
        case ready(ModelHost.Loaded)
        case wait(Task<Void, any Error>)
    }

    /// The model loaded, loading it first when it is not (and counting a lease until `release`,
    /// when `lease` is set). `explicit` loads even with `--no-models-autoload` (`POST /models/load`).
    func acquire(_ host: ModelHost, lease: Bool, explicit: Bool = false) async throws -> ModelHost.Loaded {
        while true {
            let step: Step = try table.withLock { table in
                guard let target = table.index(host) else {
                    throw APIError.modelNotFound(host.modelID, available: table.hosts.map(\.modelID))
                }
                switch host.current {
                case .ready(let loaded):
                    if lease { table.records[target].leases += 1 }
                    table.records[target].lastUsed = .now
                    table.records[target].expiresAt = nil
                    return .ready(loaded)
                case .loading:
                    if let load = table.records[target].load { return .wait(load) }
                    // The default model, loaded at start by `ModelService`: wait for it as before.
                    throw APIError.loading
                case .unloaded, .failed:
                    guard autoload || explicit else { throw APIError.modelNotLoaded(host.modelID, autoload: false) }
                    let evicted = try makeRoom(for: target, in: &table)
                    table.records[target].loads += 1
                    let load = Task { [logger] in
                        for victim in evicted {
                            logger.info("model unloaded to make room", metadata: ["model": "\(victim.host.modelID)", "for": "\(host.modelID)"])
                            await victim.host.free(victim.loaded)
                        }
                        try await host.load()
                    }
                    table.records[target].load = load
                    table.records[target].expiresAt = nil
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
    private func makeRoom(for target: Int, in table: inout Table) throws -> [(host: ModelHost, loaded: ModelHost.Loaded)] {
        let hosts = table.hosts, records = table.records
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
        let routing = isRouting, keepAlive = keepAlive
        let unloadNow = table.withLock { table -> Bool in
            guard let target = table.index(host) else { return false }
            table.records[target].leases -= 1
            table.records[target].lastUsed = .now
            guard table.records[target].leases == 0 else { return false }
            // A single model keeps the server's rule (sleep or stay): a client's keep_alive does not unload it.
            switch routing ? requested : nil {
            case .forever?: table.records[target].expiresAt = nil
            case .after(let duration)?: table.records[target].expiresAt = .now + duration
            case nil: table.records[target].expiresAt = keepAlive.map { .now + $0 }
            }
            return table.records[target].expiresAt.map { $0 <= .now } ?? false
        }
        if unloadNow { await unload(host) }
    }

    /// Unloads the model unless a request holds it; true when it was unloaded (or was not loaded).
    @discardableResult
    func unload(_ host: ModelHost) async -> Bool {
        let free = table.withLock { table -> Bool in
            guard let target = table.index(host), table.records[target].leases == 0, !host.isLoading else { return false }
            table.records[target].expiresAt = nil
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
        let expired = table.withLock { table in
            table.hosts.indices.filter { table.records[$0].leases == 0 && table.records[$0].expiresAt.map { $0 <= now } == true }
                .map { table.hosts[$0] }
        }
        for host in expired { await unload(host) }
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
        events.finish()
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
