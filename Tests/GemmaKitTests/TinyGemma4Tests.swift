import Foundation
@testable import GemmaKit
import Testing

/// A tiny Gemma 4 with random weights (scripts/make-tiny-gemma4: llama.cpp's `gemma4` architecture,
/// the default model's vocabulary with Gemma 4's chat tokens, the sdist's Gemma 4 template), made
/// once and cached outside the repository. scripts/test makes it and passes its path in
/// GEMMA_TEST_GEMMA4; without that the script is run here. A failure to make it fails the tests.
enum TinyGemma4 {
    struct Unavailable: Error, CustomStringConvertible { let description: String }

    static let path: Result<String, Unavailable> = {
        if let path = ProcessInfo.processInfo.environment["GEMMA_TEST_GEMMA4"] { return .success(path) }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = repository.appendingPathComponent("scripts/make-tiny-gemma4").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        let output = Pipe()
        process.standardOutput = output
        do { try process.run() } catch { return .failure(Unavailable(description: "\(script) could not run: \(error)")) }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: path) else {
            return .failure(Unavailable(description: "\(script) failed (exit \(process.terminationStatus)); run it to see why"))
        }
        return .success(path)
    }()

    static let model: Result<LlamaModel, any Error> = Result { try LlamaModel(path: path.get()) }
}

@Suite("A tiny Gemma 4 through the engine", .serialized)
struct TinyGemma4Tests {
    @Test func loadsRendersItsTemplateAndGenerates() async throws {
        let model = try TinyGemma4.model.get()
        #expect(model.chatTemplate?.contains("<|tool_call>call:") == true)

        // Its own template renders tools and thinking in Gemma 4's syntax.
        let formatter = try ChatFormatter(model: model)
        let rendering = try #require(try formatter.rendering(ChatRenderRequest(
            messagesJSON: Data(ChatSyntaxTests.question.utf8), toolsJSON: Data(ChatSyntaxTests.weatherTool.utf8),
            reasoningFormat: .auto, enableThinking: true)))
        #expect(rendering.format == "peg-gemma4")
        #expect(rendering.prompt.hasPrefix("<|turn>system\n<|think|>\n<|tool>declaration:get_weather{"))
        #expect(rendering.prompt.hasSuffix("<|turn>model\n"))

        // Gemma 4's chat tokens are single tokens, so the grammar's trigger and the parser see them.
        for token in rendering.preservedTokens {
            #expect(model.tokenize(token, addSpecial: false, parseSpecial: true).count == 1, "\(token)")
        }
        let prompt = model.tokenize(rendering.prompt, addSpecial: true, parseSpecial: true)
        let bos = model.tokenize(model.bosTokenText, addSpecial: false, parseSpecial: true)
        #expect(bos.count == 1 && prompt.first == bos.first && prompt.filter { $0 == bos.first }.count == 1, "one BOS, first")

        let engine = try await InferenceEngine.start(model: model, options: EngineOptions(
            context: ContextOptions(contextSize: 1024, sequences: 1, batchSize: 256, batchInvariant: true)))
        let completion = try await engine.complete(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 8))
        #expect(completion.stats?.promptTokens == prompt.count)
        #expect((completion.stats?.completionTokens ?? 0) > 0)

        // Whatever noise it wrote, the reply parser takes it without a half call.
        let parsed = try ChatReplyParser.parse(completion.text, rendering: rendering)
        #expect(parsed.message.toolCalls.allSatisfy { !$0.name.isEmpty })
    }

    /// tool_choice `required`: the template's tool-call grammar applies from the first token, so even
    /// random weights write a call in Gemma 4's syntax, and the reply parser returns it. The noise
    /// would write argument names forever, so `}` is favoured to close the call; without that the
    /// reply is cut at the token limit and comes back as raw content, never half a call.
    @Test func aRequiredToolCallIsWrittenInGemma4sSyntaxAndParsed() async throws {
        let model = try TinyGemma4.model.get()
        let formatter = try ChatFormatter(model: model)
        let noArguments = #"[{"type": "function", "function": {"name": "get_time", "description": "The time.", "parameters": {"type": "object", "properties": {}}}}]"#
        let rendering = try #require(try formatter.rendering(ChatRenderRequest(
            messagesJSON: Data(ChatSyntaxTests.question.utf8), toolsJSON: Data(noArguments.utf8), toolChoice: .required,
            parallelToolCalls: false, reasoningFormat: .auto, enableThinking: false)))
        #expect(!rendering.grammarIsLazy)
        let closing = model.tokenize("}", addSpecial: false)
        try #require(closing.count == 1)
        var greedy = SamplingParameters.greedy
        greedy.logitBias = [SamplingParameters.LogitBias(token: closing[0], bias: 50)]
        let sampling = try rendering.constrain(greedy, model: model)
        #expect(sampling.grammarTriggers == nil)
        #expect(!sampling.grammarPrefill.isEmpty, "the generation prompt is fed to the grammar")

        let engine = try await InferenceEngine.start(model: model, options: EngineOptions(
            context: ContextOptions(contextSize: 1024, sequences: 1, batchSize: 256, batchInvariant: true)))
        func reply(_ sampling: SamplingParameters, maxTokens: Int) async throws -> Completion {
            try await engine.complete(GenerationRequest(
                prompt: model.tokenize(rendering.prompt, addSpecial: true, parseSpecial: true), sampling: sampling,
                maxTokens: maxTokens, stop: rendering.additionalStops,
                visibleSpecialTokens: Set(rendering.visibleSpecialTokens(model: model))))
        }
        let closed = try await reply(sampling, maxTokens: 48)
        #expect(closed.text == "<|tool_call>call:get_time{}<tool_call|>")
        #expect(closed.stats?.finishReason == .stop)
        let parsed = try ChatReplyParser.parse(closed.text, rendering: rendering)
        #expect(parsed.outcome == .parsed)
        #expect(parsed.message.toolCalls.map(\.name) == ["get_time"])
        #expect(parsed.message.toolCalls.map(\.arguments) == ["{}"])

        let cut = try await reply(try rendering.constrain(.greedy, model: model), maxTokens: 12)
        #expect(cut.text.hasPrefix("<|tool_call>call"))
        #expect(cut.stats?.finishReason == .length)
        let raw = try ChatReplyParser.parse(cut.text, rendering: rendering)
        #expect(raw.outcome != .parsed)
        #expect(raw.message.toolCalls.isEmpty && raw.message.content == cut.text)
    }

    @Test func lazyTriggersAreTokensWhereTheyAreOneToken() throws {
        let model = try TinyGemma4.model.get()
        let formatter = try ChatFormatter(model: model)
        let rendering = try #require(try formatter.rendering(ChatRenderRequest(
            messagesJSON: Data(ChatSyntaxTests.question.utf8), toolsJSON: Data(ChatSyntaxTests.weatherTool.utf8))))
        let sampling = try rendering.constrain(SamplingParameters(), model: model)
        let toolCall = model.tokenize("<|tool_call>", addSpecial: false, parseSpecial: true)
        #expect(sampling.grammarTriggers == SamplingParameters.GrammarTriggers(patterns: [], tokens: toolCall))
        #expect(sampling.grammarPrefill.isEmpty)
        #expect(rendering.visibleSpecialTokens(model: model).contains(toolCall[0]))
        #expect(ChatRendering.regexEscaped("<|tool_call>") == #"<\|tool_call>"#)
        #expect(ChatRendering.regexEscaped(#"a.b(c)[d]{e}\"#) == #"a\.b\(c\)\[d\]\{e\}\\"#)
    }
}
