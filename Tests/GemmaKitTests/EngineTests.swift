import Foundation
import Testing
@testable import GemmaKit

@Suite("Engine on the real model", .serialized)
struct EngineTests {
    let model = TestModel.shared

    @Test func greedyGenerationIsDeterministic() async throws {
        try await TestModel.engine().use { engine in
            let request = GenerationRequest(prompt: model.tokenize("The three primary colors are"), sampling: .greedy, maxTokens: 24)
            let first = try await engine.complete(request)
            let second = try await engine.complete(request)
            #expect(!first.text.isEmpty)
            #expect(first.text == second.text)
            #expect(first.stats?.completionTokens == 24)
        }
    }

    /// llama.cpp's reasoning budget sampler: once the start sequence is in (here the prompt's last
    /// token), N more tokens may be written, then the end sequence is forced token by token.
    @Test func aThinkingBudgetForcesTheEndOfThinking() async throws {
        try await TestModel.engine().use { engine in
            let prompt = model.tokenize("The three primary colors are")
            let end = model.tokenize(" ZEBRA", addSpecial: false)
            func complete(budget: Int?, maxTokens: Int) async throws -> String {
                var sampling = SamplingParameters.greedy
                sampling.reasoningBudget = budget.map {
                    SamplingParameters.ReasoningBudget(tokens: $0, start: [prompt.last!], ends: [end], forced: end, prefill: [prompt.last!])
                }
                return try await engine.complete(GenerationRequest(prompt: prompt, sampling: sampling, maxTokens: maxTokens)).text
            }
            let free = try await complete(budget: nil, maxTokens: 3)
            #expect(!free.contains("ZEBRA"))
            let firstTwo = try await complete(budget: nil, maxTokens: 2)
            #expect(try await complete(budget: 2, maxTokens: 2 + end.count) == firstTwo + " ZEBRA")
            #expect(try await complete(budget: 0, maxTokens: end.count) == " ZEBRA")
        }
    }

    @Test func differentSeedsGiveDifferentText() async throws {
        try await TestModel.engine().use { engine in
            let prompt = model.tokenize("Once upon a time")
            func sample(_ seed: UInt32) async throws -> String {
                try await engine.complete(GenerationRequest(
                    prompt: prompt, sampling: SamplingParameters(temperature: 1.0, seed: seed), maxTokens: 24)).text
            }
            let base = try await sample(1)
            #expect(try await sample(1) == base, "the same seed must repeat the same text")
            var texts: Set<String> = [base]
            for seed in UInt32(2)...5 { texts.insert(try await sample(seed)) }
            #expect(texts.count > 1)
        }
    }

    #if os(Linux)
    /// The `--wrap=ggml_backend_init_by_type` linker flag (Package.swift) is on this test bundle,
    /// as on the executable: a deterministic context's CPU backend goes through the hook.
    @Test func linkerHookSwitchesDeterministicContextsToReferenceKernels() async throws {
        let before = LlamaBackend.referenceKernelBackends
        try await TestModel.engine(deterministic: true).use { _ in }
        #expect(LlamaBackend.referenceKernelBackends > before)
    }
    #endif

    @Test(arguments: ["plain ASCII text, with punctuation!", "emoji 🦙🚀 and café", "中文字符和日本語のテキスト", "mixed: naïve 👩‍💻 코드"])
    func tokenizeRoundTrips(_ text: String) {
        let tokens = model.tokenize(text, addSpecial: false)
        #expect(!tokens.isEmpty)
        #expect(model.detokenize(tokens) == text)
        // Token by token through the streaming decoder: never a U+FFFD, same text.
        var decoder = UTF8StreamDecoder()
        var streamed = ""
        for token in tokens { streamed += decoder.append(model.pieceBytes(token)) }
        streamed += decoder.finish()
        #expect(streamed == text)
        #expect(!streamed.contains("\u{FFFD}"))
    }

    @Test func maxTokensFinishesWithLength() async throws {
        try await TestModel.engine().use { engine in
            let result = try await engine.complete(GenerationRequest(prompt: model.tokenize("Count: one, two,"), sampling: .greedy, maxTokens: 5))
            #expect(result.stats?.finishReason == .length)
            #expect(result.stats?.completionTokens == 5)
        }
    }

    @Test func stopStringCutsOutputAndFinishesWithStop() async throws {
        try await TestModel.engine().use { engine in
            let prompt = model.tokenize("Count: one, two, three, four, five, six,")
            let free = try await engine.complete(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 30))
            // Stop on a piece of text the free run really produced, past its start.
            let words = free.text.split(separator: " ").map(String.init)
            try #require(words.count >= 3, "the free run produced too little text: \(free.text)")
            let stop = words[2]
            let cut = try await engine.complete(GenerationRequest(prompt: prompt, sampling: .greedy, maxTokens: 30, stop: [stop]))
            #expect(cut.stats?.finishReason == .stop)
            #expect(!cut.text.contains(stop))
            #expect(free.text.hasPrefix(cut.text))
            #expect(cut.text.count < free.text.count)
        }
    }

    @Test func contextFullFinishesWithLength() async throws {
        try await TestModel.engine(contextSize: 256).use { engine in
            let limit = engine.slotContextSize
            let prompt = model.tokenize(String(repeating: "word ", count: 40))
            let result = try await engine.complete(GenerationRequest(prompt: prompt, sampling: SamplingParameters(temperature: 0.9, seed: 3)))
            #expect(result.stats?.finishReason == .length)
            #expect(prompt.count + (result.stats?.completionTokens ?? 0) <= limit)
        }
    }

    @Test func promptLongerThanTheSlotIsRejectedWithBothNumbers() async throws {
        try await TestModel.engine(contextSize: 256).use { engine in
            let prompt = model.tokenize(String(repeating: "long prompt ", count: 200))
            #expect {
                _ = try engine.generate(GenerationRequest(prompt: prompt))
            } throws: { error in
                guard let error = error as? EngineError else { return false }
                return error.code == .promptTooLong && error.message.contains("\(prompt.count)") && error.message.contains("\(engine.slotContextSize)")
            }
        }
    }

    @Test func badSamplingParameterNamesTheField() async throws {
        try await TestModel.engine().use { engine in
            #expect {
                _ = try engine.generate(GenerationRequest(prompt: model.tokenize("hi"), sampling: SamplingParameters(topP: 1.5)))
            } throws: { error in
                (error as? EngineError)?.refusal == .outOfRange(.topP, value: "1.5", requirement: "between 0 and 1")
            }
        }
    }

    @Test func chatFormattingUsesGemmaTurns() throws {
        let prompt = try ChatFormatter(model: model).format([
            ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi"),
        ])
        #expect(prompt.contains("<start_of_turn>user"))
        #expect(prompt.contains("Be brief."))
        #expect(prompt.hasSuffix("<start_of_turn>model\n"))
        let fallback = try ChatFormatter(template: nil).format([ChatMessage(role: "user", content: "Hi")])
        #expect(fallback == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
    }

    @Test func jsonGrammarGivesValidJSON() async throws {
        try await TestModel.engine().use { engine in
            let prompt = model.tokenize("A JSON object describing a cat:")
            let result = try await engine.complete(GenerationRequest(
                prompt: prompt, sampling: SamplingParameters(temperature: 0, grammar: JSONGrammar.object), maxTokens: 80))
            #expect(result.text.hasPrefix("{"))
            #expect(JSONPrefix.isValid(result.text), "not the start of a JSON object: \(result.text)")
            if result.stats?.finishReason == .stop {
                let object = try JSONSerialization.jsonObject(with: Data(result.text.utf8))
                #expect(object is [String: Any])
            }
        }
    }

    @Test func logprobsAreReportedPerToken() async throws {
        try await TestModel.engine().use { engine in
            let result = try await engine.complete(GenerationRequest(prompt: model.tokenize("Paris is the capital of"), sampling: .greedy, maxTokens: 4, logprobs: 3))
            #expect(result.logprobs.count == 4)
            for entry in result.logprobs {
                #expect(entry.logprob <= 0)
                #expect(entry.top.count == 3)
                // Greedy picks the most likely token.
                #expect(entry.top.first?.logprob == entry.logprob)
            }
        }
    }
}
