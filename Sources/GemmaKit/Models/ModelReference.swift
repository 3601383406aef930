import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore

/// A model as a person names it: a local file, a Hugging Face repository (and file or quant tag),
/// or an Ollama registry name.
public enum ModelReference: Sendable, Equatable, CustomStringConvertible {
    /// A GGUF file on disk.
    case file(path: String)
    /// A file of a Hugging Face repository; `file` nil means "pick by `quant`" (default Q4_K_M).
    case huggingFace(repo: String, file: String?, quant: String?, revision: String)
    /// `ollama://[NAMESPACE/]NAME[:TAG]` (namespace `library` and tag `latest` by default).
    case ollama(namespace: String, name: String, tag: String)

    public var description: String {
        switch self {
        case .file(let path): return path
        case .huggingFace(let repo, let file, let quant, let revision):
            let suffix = file.map { "/\($0)" } ?? quant.map { ":\($0)" } ?? ""
            return repo + suffix + (revision == "main" ? "" : "@\(revision)")
        case .ollama(let namespace, let name, let tag):
            return "ollama://\(namespace == "library" ? "" : namespace + "/")\(name):\(tag)"
        }
    }

    /// Parses the value of `--model` or of `gemmactl pull`'s argument:
    /// `ollama://gemma3:1b`, `hf://ORG/REPO[:QUANT]`, `ORG/REPO:QUANT` (when `preferRepository`), else a path.
    public static func parse(_ text: String, revision: String = "main", preferRepository: Bool = false) throws -> ModelReference {
        if text.hasPrefix("ollama://") { return try parseOllama(String(text.dropFirst("ollama://".count))) }
        if text.hasPrefix("hf://") { return try parseRepository(String(text.dropFirst("hf://".count)), revision: revision) }
        if preferRepository && !text.hasPrefix("/") && !text.hasPrefix(".") && !text.lowercased().hasSuffix(".gguf")
            && !FileManager.default.fileExists(atPath: text) {
            return try parseRepository(text, revision: revision)
        }
        guard !text.isEmpty else {
            throw ModelPullError(.badReference, "the model name is empty", recovery: "pass a .gguf path, ORG/REPO[:QUANT] or ollama://NAME:TAG")
        }
        return .file(path: text)
    }

    /// From `--model`, `--hf-repo`, `--hf-file` and `--revision` as `serve` and `pull` take them.
    public init(model: String?, hfRepo: String?, hfFile: String?, revision: String? = nil) throws {
        let revision = revision ?? "main"
        if let hfRepo {
            guard model == nil else {
                throw ModelPullError(.badReference, "--model and --hf-repo were both given",
                                     recovery: "pass either a model (--model) or a repository (--hf-repo), not both")
            }
            let parsed = try Self.parseRepository(hfRepo, revision: revision)
            if let hfFile, case .huggingFace(let repo, _, _, _) = parsed {
                self = .huggingFace(repo: repo, file: hfFile, quant: nil, revision: revision)
            } else {
                self = parsed
            }
        } else if hfFile != nil {
            throw ModelPullError(.badReference, "--hf-file was given without --hf-repo",
                                 recovery: "add --hf-repo ORG/REPO")
        } else if let model {
            self = try Self.parse(model, revision: revision)
        } else {
            self = .huggingFace(repo: DefaultModel.repo, file: DefaultModel.file, quant: nil, revision: "main")
        }
    }

    static func parseRepository(_ text: String, revision: String) throws -> ModelReference {
        var repo = text
        var quant: String?
        if let colon = text.lastIndex(of: ":") {
            repo = String(text[..<colon])
            quant = String(text[text.index(after: colon)...])
        }
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        let valid = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy(valid.contains) && $0 != "." && $0 != ".." }),
              quant.map({ !$0.isEmpty && $0.unicodeScalars.allSatisfy(valid.contains) }) ?? true else {
            throw ModelPullError(.badReference, "'\(text)' is not a Hugging Face repository name",
                                 recovery: "write it as ORG/REPO or ORG/REPO:QUANT, e.g. ggml-org/gemma-3-1b-it-GGUF:Q4_K_M")
        }
        return .huggingFace(repo: repo, file: nil, quant: quant, revision: revision)
    }

    static func parseOllama(_ text: String) throws -> ModelReference {
        var name = text
        var tag = "latest"
        if let colon = text.lastIndex(of: ":") {
            name = String(text[..<colon])
            tag = String(text[text.index(after: colon)...])
        }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let valid = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        func ok(_ s: String) -> Bool { !s.isEmpty && s != "." && s != ".." && s.unicodeScalars.allSatisfy(valid.contains) }
        guard (1...2).contains(parts.count), parts.allSatisfy(ok), ok(tag) else {
            throw ModelPullError(.badReference, "'ollama://\(text)' is not an Ollama model name",
                                 recovery: "write it as ollama://NAME:TAG or ollama://NAMESPACE/NAME:TAG, e.g. ollama://gemma3:1b")
        }
        return parts.count == 2 ? .ollama(namespace: parts[0], name: parts[1], tag: tag)
            : .ollama(namespace: "library", name: parts[0], tag: tag)
    }

    /// Where an Ollama model lives in the hub cache: repository `ollama-NAMESPACE/NAME`
    /// (folder `models--ollama-library--gemma3`), file `NAME-TAG.gguf`, ref `TAG`.
    public static func ollamaCacheName(namespace: String, name: String, tag: String) -> (repo: String, file: String) {
        ("ollama-\(namespace)/\(name)", "\(name)-\(tag).gguf")
    }
}
