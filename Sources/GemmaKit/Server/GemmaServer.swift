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
    }

    /// Open without a key: the probes, and `/`, which Ollama tools probe (as Ollama answers it).
    static let publicPaths: Set<String> = ["/health", "/v1/health", "/ready", "/"]

    /// Every route and its methods, for 404 versus 405 and the request metrics' labels.
    static let routes: [String: Set<HTTPRequest.Method>] = {
        var routes: [String: Set<HTTPRequest.Method>] = [
            "/health": [.get, .head], "/v1/health": [.get, .head], "/ready": [.get, .head], "/slots": [.get], "/metrics": [.get],
            "/tokenize": [.post], "/detokenize": [.post], "/": [.get, .head],
            "/api/generate": [.post], "/api/chat": [.post], "/api/embed": [.post], "/api/embeddings": [.post],
            "/api/show": [.post], "/api/tags": [.get], "/api/ps": [.get], "/api/version": [.get],
        ]
        for prefix in ["/v1", ""] {
            routes["\(prefix)/chat/completions"] = [.post]
            routes["\(prefix)/completions"] = [.post]
            routes["\(prefix)/embeddings"] = [.post]
            routes["\(prefix)/models"] = [.get]
        }
        return routes
    }()

    /// The API router: every endpoint behind the key but /health, /ready and /.
    public func buildRouter() -> Router<ServeRequestContext> {
        let router = Router(context: ServeRequestContext.self)
        router.add(middleware: RequestLogMiddleware(metrics: core.metrics, knownPaths: Set(Self.routes.keys)))
        router.add(middleware: CrossOriginMiddleware(origins: core.configuration.corsOrigins,
                                                     methods: Set(Self.routes.values.joined())))
        router.add(middleware: ErrorShapeMiddleware(methodsByPath: Self.routes, maxBodySize: core.configuration.maxBodySize, logger: core.logger))
        router.add(middleware: APIKeyMiddleware(keys: core.keys, publicPaths: Self.publicPaths))
        OpsController(server: core).addRoutes(to: router, metrics: true)
        OpenAIController(server: core).addRoutes(to: router)
        OllamaController(server: core).addRoutes(to: router)
        return router
    }

    /// The unauthenticated metrics-only router for --metrics-port.
    public func buildMetricsRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/metrics") { _, _ in OpsController<BasicRequestContext>(server: core).metrics() }
        return router
    }

    /// Runs until a shutdown signal (or the task is cancelled). `onListening` gets the bound port.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint],
                    beforeLoad: (@Sendable () async -> Void)? = nil,
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let configuration = core.configuration
        let logger = core.logger
        let app = Application(
            router: buildRouter(),
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionWatcher()])),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "gemmactl"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(port)",
                                                    "auth": "\(core.keys.isEnabled ? "api-key" : "none")"])
                await onListening(port)
            },
            logger: logger)
        var services: [any Service] = [app, BackgroundWork(core: core, beforeLoad: beforeLoad)]
        if let metricsPort = configuration.metricsPort {
            services.append(Application(
                router: buildMetricsRouter(),
                configuration: .init(address: .hostname(configuration.host, port: metricsPort), serverName: "gemmactl-metrics"),
                logger: logger))
        }
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: signals, logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGrace
        groupConfiguration.maximumCancellationDuration = Duration.seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        defer { core.host.shutdown() }
        try await group.run()
    }
}

/// Loads the model, then watches the keys file until shutdown.
struct BackgroundWork: Service {
    let core: ServerCore
    let beforeLoad: (@Sendable () async -> Void)?

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            await beforeLoad?()
            let started = ContinuousClock.now
            do {
                try await core.host.load(core.configuration)
                core.logger.info("model loaded", metadata: [
                    "model": "\(core.configuration.modelPath)", "id": "\(core.modelID)",
                    "seconds": "\(String(format: "%.2f", (ContinuousClock.now - started).seconds))",
                    "slots": "\(core.configuration.engine.context.sequences)",
                    "kernels": "\(core.configuration.engine.context.kernelDescription)",
                ])
            } catch {
                // As llama-server does: a server that cannot serve exits, so the orchestrator sees it.
                core.logger.critical("the model failed to load", metadata: ["error": "\(error)"])
                if Task.isCancelled { return }
                throw error
            }
            await core.keys.watch(every: core.configuration.keyFilePollInterval)
            // Without a keys file, stay until shutdown.
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        }
    }
}
