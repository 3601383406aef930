import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// `gemmactl serve`: llama.cpp in-process behind an OpenAI- and Ollama-compatible HTTP API with
/// API-key auth, /health, /ready, /slots and /metrics.
///
/// It listens first and loads the model in the background, so probes see `503 Loading model`
/// until it is ready. SIGTERM/SIGINT stop accepting, let requests in flight finish within the
/// grace period, cancel the rest, and return.
public struct GemmaServer: Sendable {
    public let core: ServerCore

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "gemmactl.serve")) throws(ServeError) {
        try configuration.validate()
        core = try ServerCore(configuration: configuration, logger: logger)
        try core.registry.checkEachFits()
    }

    /// Every endpoint, declared once (see `RouteTable`).
    var routes: RouteTable {
        RouteTable(OpsController(server: core).endpoints + OpenAIController(server: core).endpoints
                   + ChatTemplateController(server: core).endpoints + NativeCompletionController(server: core).endpoints
                   + OllamaController(server: core).endpoints + ResponsesController(server: core).endpoints
                   + EmbeddingsController(server: core).endpoints + AnthropicController(server: core).endpoints
                   + ModelsController(server: core).endpoints)
    }

    /// The API router: every endpoint behind the key but /health, /ready and /.
    public func buildRouter() -> Router<ServeRequestContext> {
        let routes = self.routes
        let router = Router(context: ServeRequestContext.self)
        router.add(middleware: RequestLogMiddleware(metrics: core.metrics, routes: routes))
        router.add(middleware: CrossOriginMiddleware(origins: core.configuration.corsOrigins, methods: routes.methods))
        router.add(middleware: ErrorShapeMiddleware(routes: routes, maxBodySize: core.configuration.maxBodySize, logger: core.logger))
        router.add(middleware: APIKeyMiddleware(keys: core.keys, publicPaths: routes.publicPaths))
        router.add(middleware: ModelLeaseMiddleware(registry: core.registry))
        routes.register(on: router)
        return router
    }

    /// The unauthenticated metrics-only router for --metrics-port: the route table's `/metrics`.
    public func buildMetricsRouter() -> Router<ServeRequestContext> {
        let router = Router(context: ServeRequestContext.self)
        routes.register(on: router, paths: [OpsController.metricsPath])
        return router
    }

    /// The whole server as one application: the API on --host/--port, and as its services the
    /// model's lifetime (`ModelService`: load, keys-file watch, engine shutdown) and the
    /// --metrics-port listener. `run` serves it with signal handling; tests run it with
    /// HummingbirdTesting's live mode. `onListening` gets the API's bound address, `onMetricsListening`
    /// the metrics listener's (both may be port 0, an ephemeral port).
    public func buildApplication(beforeLoad: (@Sendable () async -> Void)? = nil,
                                 onMetricsListening: @escaping @Sendable (SocketAddress) async -> Void = { _ in },
                                 onListening: @escaping @Sendable (SocketAddress) async -> Void = { _ in }) -> some ApplicationProtocol {
        let configuration = core.configuration
        let logger = core.logger
        var services: [any Service] = [ModelService(core: core, beforeLoad: beforeLoad)]
        if let metricsPort = configuration.metricsPort {
            services.append(Application(
                router: buildMetricsRouter(),
                configuration: .init(address: .hostname(configuration.hosts[0], port: metricsPort), serverName: "gemmactl-metrics"),
                onServerRunning: { channel in
                    guard let address = channel.localAddress else { return }
                    logger.info("metrics listening", metadata: ["port": "\(address.port ?? metricsPort)"])
                    await onMetricsListening(address)
                },
                logger: logger))
        }
        // Each further --host listens on the port the first one bound (the same with --port 0).
        let extraHosts = configuration.hosts.dropFirst().map { host in
            let (port, announce) = AsyncStream.makeStream(of: Int.self)
            services.append(ExtraListener(host: host, port: port, make: { port in apiApplication(host: host, port: port) }))
            return announce
        }
        return apiApplication(host: configuration.hosts[0], port: configuration.port, services: services) { address in
            for announce in extraHosts {
                announce.yield(address.port ?? configuration.port)
                announce.finish()
            }
            await onListening(address)
        }
    }

    /// The API on one address; `onListening` gets the bound address.
    private func apiApplication(host: String, port: Int, services: [any Service] = [],
                                onListening: @escaping @Sendable (SocketAddress) async -> Void = { _ in }) -> Application<RouterResponder<ServeRequestContext>> {
        let logger = core.logger
        return Application(
            router: buildRouter(),
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionWatcher()])),
            configuration: .init(address: .hostname(host, port: port), serverName: "gemmactl"),
            services: services,
            onServerRunning: { [core] channel in
                guard let address = channel.localAddress else { return }
                logger.info("listening", metadata: ["host": "\(host)", "port": "\(address.port ?? port)",
                                                    "auth": "\(core.keys.isEnabled ? "api-key" : "none")"])
                await onListening(address)
            },
            logger: logger)
    }

    /// Runs until a shutdown signal (or the task is cancelled). `onListening` gets the bound port.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint],
                    beforeLoad: (@Sendable () async -> Void)? = nil,
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = buildApplication(beforeLoad: beforeLoad) { address in await onListening(address.port ?? 0) }
        var groupConfiguration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: signals, logger: core.logger)
        groupConfiguration.maximumGracefulShutdownDuration = core.configuration.shutdownGrace
        groupConfiguration.maximumCancellationDuration = Duration.seconds(5)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

/// The model's lifetime in the server: loads it, watches the keys file until shutdown, then
/// shuts the engine down. A service of the application after which the HTTP server stops first,
/// so requests in flight finish before their engine goes.
struct ModelService: Service {
    let core: ServerCore
    let beforeLoad: (@Sendable () async -> Void)?

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await serve() }
        } catch {
            await core.registry.shutdown()
            throw error
        }
        await core.registry.shutdown()
    }

    private func serve() async throws {
        await beforeLoad?()
        let started = ContinuousClock.now
        do {
            try await core.host.load()
            core.logger.info("model loaded", metadata: [
                "model": "\(core.configuration.modelPath)", "id": "\(core.modelID)",
                "seconds": "\(String(format: "%.2f", (ContinuousClock.now - started).seconds))",
                "slots": "\(core.configuration.engine.context.sequences)",
                "kernels": "\(core.configuration.engine.context.kernelDescription)",
                "cpu_level": "\(CPULevel.linked)",
            ])
        } catch {
            // As llama-server does: a server that cannot serve exits, so the orchestrator sees it.
            core.logger.critical("the model failed to load", metadata: ["error": "\(error)"])
            if Task.isCancelled { return }
            throw error
        }
        // Idle models are unloaded when their keep-alive runs out (or a single model sleeps), checked each second.
        let registry = core.registry
        registry.loadedIdle(core.host)
        // Models a preset loads at start (load-on-startup), after the default; /ready waits for them.
        for host in registry.hosts.dropFirst() where host.configuration.loadOnStartup {
            do {
                _ = try await registry.acquire(host, lease: false, explicit: true)
            } catch {
                core.logger.error("a load-on-startup model failed to load", metadata: ["model": "\(host.modelID)", "error": "\(error)"])
            }
        }
        registry.startupLoadsFinished()
        let reaper = Task {
            // Checked each turn: model management can turn one model into several.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if registry.unloadsIdle { await registry.unloadExpired() }
            }
        }
        defer { reaper.cancel() }
        await core.keys.watch(every: core.configuration.keyFilePollInterval)
        // Without a keys file, stay until shutdown.
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }
}

/// The API on a further `--host` address: waits for the port the first listener bound, then
/// serves there until shutdown.
struct ExtraListener: Service {
    let host: String
    let port: AsyncStream<Int>
    let make: @Sendable (Int) -> Application<RouterResponder<ServeRequestContext>>

    func run() async throws {
        var ports = port.makeAsyncIterator()
        guard let bound = await ports.next() else { return }
        try await make(bound).run()
    }
}
