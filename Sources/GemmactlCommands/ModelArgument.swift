import ArgumentParser
import Foundation
import GemmaKit

/// A model named on the command line of `inspect` and `plan`: a .gguf path, ORG/REPO[:QUANT] or
/// ollama://NAME:TAG, looked up in the cache only (no download); the default model when absent.
enum ModelArgument {
    static func localPath(_ text: String?, cacheDir: String?, environment: [String: String]) async throws -> String {
        let cache = HubCache.resolve(environment: environment, override: cacheDir)
        guard let text else { return try DefaultModel.path(in: cache) }
        let reference = try ModelReference.parse(text, preferRepository: true)
        let settings = try HubSettings.resolve(environment: environment, offline: true)
        return try await ModelResolver(cache: cache, settings: settings).resolve(reference)
    }
}
