import Foundation
import Testing
@testable import GemmaKit

@Suite("--models-preset files (llama-server's INI)")
struct ModelsPresetTests {
    /// llama-server's README example, with gemmactl's settings.
    static let example = """
        version = 1

        ; every model
        [*]
        c = 8192
        LLAMA_ARG_N_PARALLEL = 2

        [ggml-org/gemma-3-1b-it-GGUF:Q4_K_M]
        chat-template = chatml   ; a built-in name
        ctx-size = 4096
        load-on-startup = true

        [custom]
        model = /models/custom.gguf
        no-jinja = true
        port = 9000
        stop-timeout = 5
        """

    private func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("preset-\(UUID().uuidString).ini").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func sectionsBecomeTheVariablesTheirSettingsRead() throws {
        let path = try write(Self.example)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let preset = try ModelsPreset.load(path: path)
        #expect(preset.global == ["GEMMA_CTX_SIZE": "8192", "GEMMA_PARALLEL": "2"])
        #expect(preset.entries.map(\.name) == ["ggml-org/gemma-3-1b-it-GGUF:Q4_K_M", "custom"])
        let gemma = try #require(preset.entry(named: "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"))
        #expect(gemma.settings == ["GEMMA_CTX_SIZE": "4096", "GEMMA_CHAT_TEMPLATE": "chatml"])
        #expect(gemma.loadOnStartup)
        let custom = try #require(preset.entry(named: "custom"))
        #expect(custom.settings == ["GEMMA_MODEL": "/models/custom.gguf", "GEMMA_JINJA": "false"])
        #expect(!custom.loadOnStartup)
        // A model cannot have a port of its own; stop-timeout is the router's child processes'.
        #expect(preset.ignored.count == 2)
        #expect(preset.ignored[0].hasPrefix("\(path):16: port"))
        #expect(preset.ignored[1].hasPrefix("\(path):17: stop-timeout"))
    }

    /// llama-server's precedence: the model's section over `[*]` over the process environment; a
    /// flag still wins, because a descriptor's `resolve` takes a given value first.
    @Test func aModelsSectionWinsOverTheGlobalSectionAndTheEnvironment() throws {
        let preset = try ModelsPreset.parse(Self.example, file: "models.ini")
        let base = ["GEMMA_CTX_SIZE": "2048", "LLAMA_ARG_THREADS": "3"]
        let gemma = preset.environment(for: "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M", over: base)
        #expect(try ServeSettings.contextSize.resolve(nil, in: gemma) == 4096)
        #expect(try ServeSettings.parallel.resolve(nil, in: gemma) == 2)
        #expect(try ServeSettings.threads.resolve(nil, in: gemma) == 3)
        #expect(try ServeSettings.contextSize.resolve(1024, in: gemma) == 1024)
        let custom = preset.environment(for: "custom", over: base)
        #expect(try ServeSettings.contextSize.resolve(nil, in: custom) == 8192)
        #expect(try ServeSettings.jinja.resolve(nil, in: custom) == false)
        let unnamed = preset.environment(for: "elsewhere", over: base)
        #expect(try ServeSettings.contextSize.resolve(nil, in: unnamed) == 8192)
    }

    @Test func loadOnStartupInTheGlobalSectionIsEveryModelsDefault() throws {
        let preset = try ModelsPreset.parse("[*]\nload-on-startup = yes\n[a]\nc = 512\n[b]\nload-on-startup = false\n", file: "p.ini")
        #expect(preset.entries.map(\.loadOnStartup) == [true, false])
    }

    @Test(arguments: [
        ("[a]\nctx-sise = 4096\n", "p.ini:2: 'ctx-sise' is not a setting of gemmactl serve"),
        ("[a]\nc = many\n", "p.ini:2: c must be a whole number, got 'many'"),
        ("[a]\nctx-size = 8\n", "p.ini:2: ctx-size must be at least 16, got 8"),
        ("[a]\nno-jinja = maybe\n", "p.ini:2: no-jinja must be true or false, got 'maybe'"),
        ("[a]\nload-on-startup = soon\n", "p.ini:2: load-on-startup must be true or false, got 'soon'"),
        ("[a]\nno-ctx-size = true\n", "p.ini:2: 'no-ctx-size' is not a setting of gemmactl serve"),
        ("[a\nc = 512\n", "p.ini:1: '[a' is not a section header"),
        ("[ ]\n", "p.ini:1: a section needs a name"),
        ("[a]\nc = 512\n\n[a]\n", "p.ini:4: section [a] is already at line 1"),
        ("c = 512\n", "p.ini:1: 'c' comes before any section"),
        ("version = 2\n[a]\n", "p.ini:1: version 2 is not supported"),
        ("[a]\nctx-size 4096\n", "p.ini:2: 'ctx-size 4096' is not KEY = VALUE"),
    ])
    func aBadLineIsAnErrorNamingTheFileLineAndKey(text: String, message: String) {
        #expect(throws: InputError.self) { try ModelsPreset.parse(text, file: "p.ini") }
        do {
            _ = try ModelsPreset.parse(text, file: "p.ini")
        } catch {
            #expect(error.message == message)
            #expect(error.recovery != nil || message.contains("must be"))
        }
    }

    @Test func anUnreadableFileIsAnErrorNamingIt() {
        do {
            _ = try ModelsPreset.load(path: "/nonexistent/models.ini")
            Issue.record("a missing preset file was read")
        } catch {
            #expect(error.message.hasPrefix("--models-preset /nonexistent/models.ini cannot be read"))
        }
    }
}
