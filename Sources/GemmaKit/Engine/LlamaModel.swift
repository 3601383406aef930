import CLlama
import Foundation

/// Options for loading a model.
public struct ModelLoadOptions: Sendable {
    /// Layers to offload to a GPU (0 on a CPU build).
    public var gpuLayers: Int = 0
    /// Memory-map the file (the default: pages are shared with the page cache).
    public var useMmap: Bool = true
    /// Let llama.cpp repack weights for its faster CPU kernels. Off by default: the repacked
    /// kernels take a different path for several rows than for one, so the same prompt could give
    /// different greedy text alone and in a batch with others.
    public var repackWeights: Bool = false

    public init(gpuLayers: Int = 0, useMmap: Bool = true, repackWeights: Bool = false) {
        self.gpuLayers = gpuLayers
        self.useMmap = useMmap
        self.repackWeights = repackWeights
    }
}

/// A llama token id.
public typealias Token = Int32

/// A loaded GGUF model: weights and vocabulary.
///
/// `@unchecked Sendable` because a llama_model is read-only once loaded and llama.cpp documents
/// its vocabulary functions (tokenize, token_to_piece, …) as thread-safe; contexts that mutate
/// state are separate objects owned by one thread each.
public final class LlamaModel: @unchecked Sendable {
    let pointer: OpaquePointer
    let vocab: OpaquePointer
    /// The file it was loaded from.
    public let path: String
    /// The GGUF header, read before llama.cpp saw the file.
    public let gguf: GGUFFile
    /// The most bytes of text one token stands for, over the whole vocabulary (its text as stored
    /// and as rendered). So text of more than `n * maxTokenBytes` bytes takes more than `n`
    /// tokens, which lets a prompt that cannot fit be refused before it is tokenized.
    public let maxTokenBytes: Int
    /// Every token that ends a generation (end of turn, end of sequence, …), in id order.
    public let endOfGenerationTokens: [Token]

    /// Loads `path`, checking the file first so each way it can be wrong is its own error.
    public init(path: String, options: ModelLoadOptions = ModelLoadOptions()) throws(EngineError) {
        LlamaBackend.initialize()
        let header: GGUFFile
        do {
            header = try GGUFFile(path: path)
            _ = try header.otherShards()
        } catch {
            throw EngineError(error.code.engineCode, error.message, recovery: error.recovery)
        }
        var params = llama_model_default_params()
        params.n_gpu_layers = Int32(clamping: options.gpuLayers)
        params.load_mode = options.useMmap ? params.load_mode : LLAMA_LOAD_MODE_NONE
        params.use_extra_bufts = options.repackWeights
        LlamaBackend.clearLastError()
        guard let model = llama_model_load_from_file(path, params) else {
            let detail = LlamaBackend.takeLastError() ?? "llama.cpp gave no reason"
            let architecture = header.architecture ?? "(none)"
            if detail.contains("unknown model architecture") || header.architecture == nil {
                throw EngineError(.unsupportedArchitecture,
                                  "\(path): model architecture '\(architecture)' is not supported by this llama.cpp build",
                                  recovery: "use a model whose architecture llama.cpp \(LlamaBackend.buildCommit) supports, e.g. a Gemma 3 GGUF")
            }
            throw EngineError(.modelLoadFailed, "llama.cpp could not load \(path): \(detail)",
                              recovery: "the file may be damaged or made for a newer llama.cpp; download it again")
        }
        pointer = model
        vocab = llama_model_get_vocab(model)
        self.path = path
        gguf = header
        maxTokenBytes = Self.longestToken(vocab)
        let vocabulary = vocab
        endOfGenerationTokens = (0..<llama_vocab_n_tokens(vocabulary)).filter { llama_vocab_is_eog(vocabulary, $0) }
    }

    private static func longestToken(_ vocab: OpaquePointer) -> Int {
        var longest = 1
        var buffer = [CChar](repeating: 0, count: 256)
        for token in 0..<llama_vocab_n_tokens(vocab) {
            if let text = llama_vocab_get_text(vocab, token) { longest = max(longest, Int(strlen(text))) }
            let n = Int(llama_token_to_piece(vocab, token, &buffer, Int32(buffer.count), 0, true))
            longest = max(longest, n < 0 ? -n : n)
        }
        return longest
    }

    deinit { llama_model_free(pointer) }

    // MARK: Facts

    public var contextTrainSize: Int { Int(llama_model_n_ctx_train(pointer)) }
    public var embeddingSize: Int { Int(llama_model_n_embd(pointer)) }
    public var layerCount: Int { Int(llama_model_n_layer(pointer)) }
    public var vocabularySize: Int { Int(llama_vocab_n_tokens(vocab)) }
    public var parameterCount: UInt64 { llama_model_n_params(pointer) }
    public var sizeInBytes: UInt64 { llama_model_size(pointer) }
    public var hasEncoder: Bool { llama_model_has_encoder(pointer) }

    /// llama.cpp's one-line description, e.g. "gemma3 270M Q4_K - Medium".
    public var summary: String {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = llama_model_desc(pointer, &buffer, buffer.count)
        return n > 0 ? String(cString: buffer) : "unknown"
    }

    /// The chat template embedded in the GGUF, if any.
    public var chatTemplate: String? {
        guard let raw = llama_model_chat_template(pointer, nil) else { return nil }
        let template = String(cString: raw)
        return template.isEmpty ? nil : template
    }

    /// llama.cpp's name of the weights' type, e.g. "Q4_K - Medium".
    public var fileTypeName: String { String(cString: llama_ftype_name(llama_model_ftype(pointer))) }

    /// The text of the BOS and EOS tokens ("" when the vocabulary has none), as templates see them.
    public var bosTokenText: String { specialTokenText(llama_vocab_bos(vocab)) }
    public var eosTokenText: String { specialTokenText(llama_vocab_eos(vocab)) }

    private func specialTokenText(_ token: Token) -> String {
        token == LLAMA_TOKEN_NULL ? "" : String(decoding: pieceBytes(token, special: true), as: UTF8.self)
    }

    /// A metadata value as a string, as llama.cpp renders it.
    public func metadata(_ key: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 512)
        let n = llama_model_meta_val_str(pointer, key, &buffer, buffer.count)
        guard n >= 0 else { return nil }
        if Int(n) >= buffer.count {
            buffer = [CChar](repeating: 0, count: Int(n) + 1)
            _ = llama_model_meta_val_str(pointer, key, &buffer, buffer.count)
        }
        return String(cString: buffer)
    }

    // MARK: Tokens

    /// Whether `token` ends a generation (end of sequence or end of turn).
    public func isEndOfGeneration(_ token: Token) -> Bool { llama_vocab_is_eog(vocab, token) }

    /// Splits `text` into tokens. `addSpecial` adds BOS where the model wants it; `parseSpecial`
    /// turns control-token text such as `<start_of_turn>` into its token (for formatted chats).
    public func tokenize(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Token] {
        var utf8 = Array(text.utf8)
        let length = Int32(clamping: utf8.count)
        var tokens = [Token](repeating: 0, count: utf8.count + 8)
        var n = utf8.withUnsafeMutableBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                llama_tokenize(vocab, chars.baseAddress, length, &tokens, Int32(tokens.count), addSpecial, parseSpecial)
            }
        }
        if n < 0, n != Int32.min {
            tokens = [Token](repeating: 0, count: Int(-n))
            n = utf8.withUnsafeMutableBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    llama_tokenize(vocab, chars.baseAddress, length, &tokens, Int32(tokens.count), addSpecial, parseSpecial)
                }
            }
        }
        return n > 0 ? Array(tokens.prefix(Int(n))) : []
    }

    /// The tokens of a chat prompt: control tokens parsed in the template's pieces only, message
    /// content as plain text. `addSpecial` adds BOS where the model wants it.
    ///
    /// Tokenized piece by piece, text can split differently at the seams than llama-server's
    /// tokenizing of the whole prompt (Qwen's `\n` before `<|im_end|>`, say), so the whole text's
    /// tokens are used when they hold exactly the control tokens the pieces do: then no content
    /// turned into a control token, alone or with the template text beside it.
    public func tokenize(_ prompt: ChatPrompt, addSpecial: Bool = true) -> [Token] {
        var tokens = addSpecial ? tokenize("", addSpecial: true) : []
        for piece in prompt.pieces {
            tokens += tokenize(piece.text, addSpecial: false, parseSpecial: !piece.isContent)
        }
        let whole = tokenize(prompt.text, addSpecial: addSpecial, parseSpecial: true)
        guard whole != tokens else { return tokens }
        let control = LLAMA_TOKEN_ATTR_CONTROL.rawValue | LLAMA_TOKEN_ATTR_UNKNOWN.rawValue
        let controls = { (tokens: [Token]) in tokens.filter { llama_vocab_get_attr(self.vocab, $0).rawValue & control != 0 } }
        return controls(whole) == controls(tokens) ? whole : tokens
    }

    /// The raw bytes of one token's text. A multi-byte character may span tokens, so these are
    /// bytes, not a String: join them with `UTF8StreamDecoder`.
    public func pieceBytes(_ token: Token, special: Bool = false) -> [UInt8] {
        var buffer = [CChar](repeating: 0, count: 64)
        var n = llama_token_to_piece(vocab, token, &buffer, Int32(buffer.count), 0, special)
        if n < 0 {
            buffer = [CChar](repeating: 0, count: Int(-n))
            n = llama_token_to_piece(vocab, token, &buffer, Int32(buffer.count), 0, special)
        }
        guard n > 0 else { return [] }
        return buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }
    }

    /// The text of `tokens`; special tokens are dropped unless `renderSpecial`.
    public func detokenize(_ tokens: [Token], renderSpecial: Bool = false) -> String {
        guard !tokens.isEmpty else { return "" }
        var buffer = [CChar](repeating: 0, count: tokens.count * 8 + 16)
        var n = llama_detokenize(vocab, tokens, Int32(tokens.count), &buffer, Int32(buffer.count), false, renderSpecial)
        if n < 0 {
            buffer = [CChar](repeating: 0, count: Int(-n) + 1)
            n = llama_detokenize(vocab, tokens, Int32(tokens.count), &buffer, Int32(buffer.count), false, renderSpecial)
        }
        guard n > 0 else { return "" }
        return String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension LlamaBackend {
    /// The llama.cpp commit this binary links, as set by scripts/build-llama.
    public static var buildCommit: String { String(cString: llama_version()) }
}
