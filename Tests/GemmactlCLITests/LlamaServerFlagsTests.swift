import ArgumentParser
import Foundation
@testable import GemmaKit
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
        #expect(configuration.tags == ["cpu", "tiny"])
        #expect(try resolve([], ["LLAMA_ARG_ALIAS": "a,b", "LLAMA_ARG_TAGS": "t"]).aliases == ["a", "b"])
        #expect(try resolve(["--alias", "only"]).modelID == "only")
        // llama-server keeps both in a sorted set: its model id is the first alias in order, whatever the order given.
        let sorted = try resolve(["--alias", "zeta,alpha,zeta", "--tags", "b,a"])
        #expect(sorted.aliases == ["alpha", "zeta"] && sorted.modelID == "alpha" && sorted.tags == ["a", "b"])
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

    @Test func reasoningFlagsTakeLlamaServersValuesAndVariables() throws {
        let defaults = try resolve([])
        #expect(defaults.reasoningFormat == .auto)
        #expect(defaults.reasoningBudget == nil)
        #expect(try resolve(["--reasoning-format", "none"]).reasoningFormat == ReasoningFormat.none)
        #expect(try resolve([], ["LLAMA_ARG_THINK": "deepseek-legacy"]).reasoningFormat == .deepseekLegacy)
        #expect(try resolve(["--reasoning-budget", "0"]).reasoningBudget == 0)
        #expect(try resolve(["--reasoning-budget", "-1"]).reasoningBudget == nil)
        #expect(try resolve([], ["LLAMA_ARG_THINK_BUDGET": "256"]).reasoningBudget == 256)
        refuses(["--reasoning-format", "sideways"], naming: ["--reasoning-format", "'sideways'", "none, auto, deepseek, deepseek-legacy"])
        refuses(["--reasoning-budget", "-2"], naming: ["--reasoning-budget", "-2"])
        refuses([], ["LLAMA_ARG_THINK": "r1"], naming: ["LLAMA_ARG_THINK", "--reasoning-format"])
    }

    @Test func endpointSwitches() throws {
        let defaults = try resolve([])
        #expect(defaults.slotsEndpoint && !defaults.propsEndpoint)
        #expect(try !resolve(["--no-slots"]).slotsEndpoint)
        #expect(try !resolve([], ["LLAMA_ARG_ENDPOINT_SLOTS": "0"]).slotsEndpoint)
        #expect(try resolve(["--slots"], ["LLAMA_ARG_ENDPOINT_SLOTS": "0"]).slotsEndpoint)
        #expect(try resolve(["--props"]).propsEndpoint)
        #expect(try resolve([], ["LLAMA_ARG_ENDPOINT_PROPS": "1"]).propsEndpoint)
        #expect(try resolve(["--metrics"], ["LLAMA_ARG_ENDPOINT_METRICS": "1"]).metricsEndpoint)
        #expect(defaults.metricsEndpoint)
        #expect(try !resolve(["--no-metrics"]).metricsEndpoint)
        #expect(try !resolve([], ["LLAMA_ARG_ENDPOINT_METRICS": "0"]).metricsEndpoint)
        refuses([], ["LLAMA_ARG_ENDPOINT_METRICS": "maybe"], naming: ["LLAMA_ARG_ENDPOINT_METRICS"])
        refuses(["--no-metrics", "--metrics-port", "9090"], naming: ["--metrics-port", "--no-metrics"])
    }

    @Test func samplingDefaultsTakeLlamaServersFlagsAndVariables() throws {
        let defaults = try resolve([]).samplingDefaults
        #expect(defaults == SamplingDefaults())
        let flags = try resolve(["--temp", "0.3", "--seed", "42", "-n", "32", "--top-k", "5", "--top-p", "0.5",
                                 "--min-p", "0.1", "--repeat-penalty", "1.2"]).samplingDefaults
        #expect(flags.sampling == SamplingParameters(temperature: 0.3, topK: 5, topP: 0.5, minP: 0.1, repeatPenalty: 1.2, seed: 42))
        #expect(flags.maxTokens == 32)
        let variables = try resolve([], ["LLAMA_ARG_TEMPERATURE": "0", "LLAMA_ARG_N_PREDICT": "8", "LLAMA_ARG_TOP_K": "1",
                                         "LLAMA_ARG_TOP_P": "0.9", "LLAMA_ARG_MIN_P": "0"]).samplingDefaults
        #expect(variables.sampling == SamplingParameters(temperature: 0, topK: 1, topP: 0.9, minP: 0))
        #expect(variables.maxTokens == 8)
        // llama-server's spellings, and its rules: a negative temperature is 0, a seed of -1 is a random one.
        #expect(try resolve(["--temperature", "-1", "-s", "-1", "--predict", "-1"]).samplingDefaults == SamplingDefaults(
            sampling: SamplingParameters(temperature: 0), maxTokens: -1))
        refuses(["--repeat-penalty", "0"], naming: ["--repeat-penalty", "more than 0"])
        refuses(["-n", "-2"], naming: ["-n", "at least -1"])
        refuses([], ["LLAMA_ARG_TOP_P": "high"], naming: ["LLAMA_ARG_TOP_P", "--top-p", "'high'"])
    }

    @Test func corsOriginsTakeLlamaServersLocalhost() throws {
        #expect(try resolve(["--cors-origins", "localhost"]).corsOrigins == ["localhost"])
        #expect(try resolve([], ["LLAMA_ARG_CORS_ORIGINS": "*"]).corsOrigins == ["*"])
        #expect(CrossOriginPolicy.allows("http://localhost:5173", origins: ["localhost"]))
        #expect(CrossOriginPolicy.allows("https://127.0.0.1", origins: ["localhost"]))
        #expect(CrossOriginPolicy.allows("http://[::1]:8080", origins: ["localhost"]))
        #expect(!CrossOriginPolicy.allows("https://localhost.example.com", origins: ["localhost"]))
        #expect(!CrossOriginPolicy.allows("https://app.example.com", origins: []))
        refuses(["--cors-origins", "localhost:3000"], naming: ["--cors-origins", "localhost:3000"])
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
        for text in ["--jinja", "--no-jinja", "--chat-template", "--chat-template-file", "--pooling", "--reasoning-format", "--reasoning-budget", "LLAMA_ARG_THINK_BUDGET", "--no-slots", "--metrics",
                     "--props", "--verbose", "--tags", "LLAMA_ARG_JINJA", "LLAMA_ARG_CHAT_TEMPLATE_FILE", "LLAMA_ARG_ENDPOINT_SLOTS"] {
            #expect(help.contains(text), "serve --help does not name \(text)")
        }
    }
}
