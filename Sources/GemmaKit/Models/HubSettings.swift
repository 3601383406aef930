import Foundation

/// Where and how gemmactl pulls models, resolved once from flags and the environment.
public struct HubSettings: Sendable, Equatable {
    /// The Hugging Face hub (`HF_ENDPOINT`, default https://huggingface.co).
    public var endpoint: URL
    /// The Ollama registry (`OLLAMA_REGISTRY`, default https://registry.ollama.ai).
    public var ollamaRegistry: URL
    /// Bearer token for the hub (`HF_TOKEN` or `--token-file`); sent only to the hub's own host.
    public var token: String?
    /// Cache only, no network (`HF_HUB_OFFLINE=1` or `--offline`).
    public var offline: Bool
    /// Extra tries after a network failure within one pull (each resumes where the last stopped).
    public var retries: Int
    /// Seconds before the first retry; doubles each time.
    public var retryDelay: Double

    public init(endpoint: URL = URL(string: "https://huggingface.co")!,
                ollamaRegistry: URL = URL(string: "https://registry.ollama.ai")!,
                token: String? = nil, offline: Bool = false, retries: Int = 3, retryDelay: Double = 1) {
        self.endpoint = endpoint; self.ollamaRegistry = ollamaRegistry; self.token = token
        self.offline = offline; self.retries = retries; self.retryDelay = retryDelay
    }

    /// Settings from the environment (`HF_ENDPOINT`, `OLLAMA_REGISTRY`, `HF_TOKEN`, `HF_HUB_OFFLINE`),
    /// overridden by flags: a token file and `--offline`.
    public static func resolve(environment: [String: String],
                               tokenFile: String? = nil, offline: Bool = false) throws -> HubSettings {
        var settings = HubSettings()
        if let value = Environment.value("HF_ENDPOINT", in: environment) {
            guard let url = URL(string: value.hasSuffix("/") ? String(value.dropLast()) : value), url.host != nil else {
                throw ModelPullError(.badReference, "HF_ENDPOINT is not a URL: \(value)",
                                     recovery: "set HF_ENDPOINT to e.g. https://huggingface.co, or unset it")
            }
            settings.endpoint = url
        }
        if let value = Environment.value("OLLAMA_REGISTRY", in: environment) {
            guard let url = URL(string: value.hasSuffix("/") ? String(value.dropLast()) : value), url.host != nil else {
                throw ModelPullError(.badReference, "OLLAMA_REGISTRY is not a URL: \(value)",
                                     recovery: "set OLLAMA_REGISTRY to e.g. https://registry.ollama.ai, or unset it")
            }
            settings.ollamaRegistry = url
        }
        if let tokenFile {
            do {
                let text = try String(contentsOfFile: tokenFile, encoding: .utf8)
                settings.token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw ModelPullError(.badReference, "cannot read the token file \(tokenFile): \((error as NSError).localizedDescription)",
                                     recovery: "pass a readable file holding a Hugging Face token, or set HF_TOKEN")
            }
            if settings.token?.isEmpty ?? true {
                throw ModelPullError(.badReference, "the token file \(tokenFile) is empty",
                                     recovery: "write a Hugging Face token (hf_...) into it, or set HF_TOKEN")
            }
        } else {
            settings.token = Environment.value("HF_TOKEN", in: environment)
        }
        let offlineValue = Environment.value("HF_HUB_OFFLINE", in: environment)?.lowercased()
        settings.offline = offline || ["1", "true", "yes", "on"].contains(offlineValue ?? "")
        return settings
    }
}
