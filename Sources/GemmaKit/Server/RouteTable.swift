import Hummingbird

/// One endpoint of the API: its method, path, whether it is open without a key, and its handler.
struct Endpoint: Sendable {
    typealias Handler = @Sendable (Request, ServeRequestContext) async throws -> Response

    let method: HTTPRequest.Method
    let path: String
    /// Open without a key: the probes, and `/`, which Ollama tools probe.
    let isPublic: Bool
    let handler: Handler

    init(_ method: HTTPRequest.Method, _ path: String, isPublic: Bool = false, handler: @escaping Handler) {
        self.method = method
        self.path = path
        self.isPublic = isPublic
        self.handler = handler
    }
}

/// Every endpoint, declared once: the router, the 404-versus-405 answers, the public paths, the
/// CORS methods and the request metrics' `endpoint` label all come from it.
struct RouteTable: Sendable {
    let endpoints: [Endpoint]

    init(_ endpoints: [Endpoint]) {
        self.endpoints = endpoints
        methodsByPath = endpoints.reduce(into: [:]) { $0[$1.path, default: []].insert($1.method) }
        publicPaths = Set(endpoints.filter(\.isPublic).map(\.path))
    }

    /// The methods each path takes (a known path with another method is a 405).
    let methodsByPath: [String: Set<HTTPRequest.Method>]
    /// Paths served without a key.
    let publicPaths: Set<String>
    /// Every method some endpoint takes.
    var methods: Set<HTTPRequest.Method> { Set(endpoints.map(\.method)) }

    /// The request metrics' label for a path: the endpoint's path (with its `:parameter`, as
    /// `/slots/:id_slot`) when it is an endpoint's, else `other`, so unknown paths cannot grow the
    /// metric's label set.
    func metricLabel(_ path: String) -> String { endpointPath(path) ?? "other" }

    /// The methods an endpoint at `path` takes, nil when no endpoint's path matches it.
    func methods(at path: String) -> Set<HTTPRequest.Method>? { endpointPath(path).flatMap { methodsByPath[$0] } }

    /// The declared path that `path` matches: itself, or one with `:parameter` segments.
    private func endpointPath(_ path: String) -> String? {
        if methodsByPath[path] != nil { return path }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return methodsByPath.keys.first { pattern in
            let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
            return pattern.contains(":") && parts.count == segments.count
                && zip(parts, segments).allSatisfy { $0.hasPrefix(":") ? !$1.isEmpty : $0 == $1 }
        }
    }

    /// Registers the handlers of every endpoint (or of those at `paths`) on `router`.
    func register(on router: Router<ServeRequestContext>, paths: Set<String>? = nil) {
        for endpoint in endpoints where paths?.contains(endpoint.path) ?? true {
            router.on(RouterPath(endpoint.path), method: endpoint.method, use: endpoint.handler)
        }
    }
}
