import ArgumentParser
import Foundation
import GemmaKit
@testable import GemmactlCommands
import Testing

/// llama-server's flags as `gemmactl serve` takes them: spellings, LLAMA_ARG_* variables, bad values.
@Suite("llama-server's serve flags")
struct LlamaServerFlagsTests {
    static let model = try! DefaultModel.path(in: .resolve(environment: ProcessInfo.processInfo.environment))

    private func resolve(_ arguments: [String], _ environment: [String: String] = [:]) throws -> ServerConfiguration {
        try ServeOptions.parse(["-m", Self.model] + arguments).resolve(environment: environment)
    }

    /// `arguments` and `environment` are refused, when parsed or resolved, with an error naming `words`.
    private func refuses(_ arguments: [String], _ environment: [String: String] = [:], naming words: [String]) {
        #expect {
            _ = try resolve(arguments, environment)
        } throws: { error in
            let text = "\(error) " + ServeOptions.message(for: error)
            return words.allSatisfy { text.contains($0) }
        }
    }

    @Test func jinjaIsOnUnlessTurnedOff() throws {
        #expect(try resolve([]).chatTemplate == ChatTemplateOptions(source: .model, jinja: true))
        #expect(try !resolve(["--no-jinja"]).chatTemplate.jinja)
        #expect(try !resolve([], ["LLAMA_ARG_JINJA": "0"]).chatTemplate.jinja)
        #expect(try !resolve([], ["GEMMA_JINJA": "disabled"]).chatTemplate.jinja)
        #expect(try resolve(["--jinja"], ["LLAMA_ARG_JINJA": "false"]).chatTemplate.jinja)
        refuses([], ["LLAMA_ARG_JINJA": "sometimes"], naming: ["LLAMA_ARG_JINJA", "--jinja", "sometimes"])
    }

    @Test func chatTemplateTakesABuiltInNameOnly() throws {
        #expect(try resolve(["--chat-template", "gemma"]).chatTemplate.source == .builtIn("gemma"))
        #expect(try resolve([], ["LLAMA_ARG_CHAT_TEMPLATE": "chatml"]).chatTemplate.source == .builtIn("chatml"))
        // llama-server with Jinja would take this as the template's text; gemmactl says what to do instead.
        refuses(["--chat-template", "{{ messages[0].content }}"], naming: ["--chat-template", "built-in", "--chat-template-file PATH"])
    }

    @Test func chatTemplateFileIsCheckedAtStart() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-flags-\(UUID().uuidString).jinja").path
        try "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let options = try resolve(["--chat-template-file", file]).chatTemplate
        guard case .file(let path, let text) = options.source else { Issue.record("not a file: \(options.source)"); return }
        #expect(path == file && text.hasPrefix("{% for m in messages %}"))
        #expect(try resolve([], ["LLAMA_ARG_CHAT_TEMPLATE_FILE": file]).chatTemplate.source == options.source)
        refuses(["--chat-template-file", "/nonexistent/t.jinja"], naming: ["--chat-template-file", "/nonexistent/t.jinja"])
        refuses(["--chat-template-file", file, "--no-jinja"], naming: ["--chat-template-file", file, "--no-jinja"])
    }

    @Test func hostTakesACommaSeparatedList() throws {
        #expect(try resolve(["--host", "127.0.0.1,::1"]).hosts == ["127.0.0.1", "::1"])
        #expect(try resolve([], ["LLAMA_ARG_HOST": " 127.0.0.1 , ::1 "]).hosts == ["127.0.0.1", "::1"])
        refuses(["--host", ","], naming: ["--host", "at least one"])
        refuses(["--host", "127.0.0.1,127.0.0.1"], naming: ["--host", "twice"])
        // Without a key every address must be loopback.
        refuses(["--host", "127.0.0.1,0.0.0.0"], naming: ["0.0.0.0", "API key"])
    }

    @Test func aliasesAndTagsAreLists() throws {
        let configuration = try resolve(["-a", "gemma, gemma-small,", "--tags", "tiny,cpu"])
        #expect(configuration.aliases == ["gemma", "gemma-small"] && configuration.modelID == "gemma")
        #expect(configuration.tags == ["tiny", "cpu"])
        #expect(try resolve([], ["LLAMA_ARG_ALIAS": "a,b", "LLAMA_ARG_TAGS": "t"]).aliases == ["a", "b"])
        #expect(try resolve(["--alias", "only"]).modelID == "only")
    }

    @Test func poolingTakesWhatTheEmbeddingsSupport() throws {
        #expect(try resolve([]).engine.embeddingPooling == .mean)
        #expect(try resolve(["--pooling", "cls"]).engine.embeddingPooling == .cls)
        #expect(try resolve([], ["LLAMA_ARG_POOLING": "last"]).engine.embeddingPooling == .last)
        #expect(try resolve(["--pooling", "none"]).engine.embeddingPooling == EmbeddingPooling.none)
        #expect(try resolve([], ["LLAMA_ARG_POOLING": "none"]).engine.embeddingPooling == EmbeddingPooling.none)
        refuses(["--pooling", "rank"], naming: ["--pooling", "'rank' is not supported", "mean, cls, last, none"])
        refuses(["--pooling", "max"], naming: ["--pooling", "'max'"])
        refuses([], ["LLAMA_ARG_POOLING": "rank"], naming: ["LLAMA_ARG_POOLING", "--pooling", "'rank' is not supported"])
    }

    @Test func endpointSwitches() throws {
        let defaults = try resolve([])
        #expect(defaults.slotsEndpoint && !defaults.propsEndpoint)
        #expect(try !resolve(["--no-slots"]).slotsEndpoint)
        #expect(try !resolve([], ["LLAMA_ARG_ENDPOINT_SLOTS": "0"]).slotsEndpoint)
        #expect(try resolve(["--slots"], ["LLAMA_ARG_ENDPOINT_SLOTS": "0"]).slotsEndpoint)
        #expect(try resolve(["--props"]).propsEndpoint)
        #expect(try resolve([], ["LLAMA_ARG_ENDPOINT_PROPS": "1"]).propsEndpoint)
        _ = try resolve(["--metrics"], ["LLAMA_ARG_ENDPOINT_METRICS": "1"])
        refuses([], ["LLAMA_ARG_ENDPOINT_METRICS": "maybe"], naming: ["LLAMA_ARG_ENDPOINT_METRICS"])
    }

    @Test func verboseAndUnknownFlags() throws {
        for spelling in ["--verbose", "-v", "--log-verbose"] {
            #expect(try Gemmactl.Serve.parse([spelling]).verbose)
        }
        #expect {
            _ = try Gemmactl.Serve.parse(["--no-such-flag"])
        } throws: { error in
            Gemmactl.Serve.message(for: error).contains("--no-such-flag")
        }
    }

    @Test func helpNamesTheNewFlagsAndVariables() {
        let help = Gemmactl.helpMessage(for: Gemmactl.Serve.self, columns: 1000)
        for text in ["--jinja", "--no-jinja", "--chat-template", "--chat-template-file", "--pooling", "--no-slots", "--metrics",
                     "--props", "--verbose", "--tags", "LLAMA_ARG_JINJA", "LLAMA_ARG_CHAT_TEMPLATE_FILE", "LLAMA_ARG_ENDPOINT_SLOTS"] {
            #expect(help.contains(text), "serve --help does not name \(text)")
        }
    }
}
