import Foundation
import GemmaKit
import Testing

@Suite("Serve inputs")
struct ServeInputsTests {
    private func resolve(_ environment: [String: String], deterministic: Bool = false, cacheRam: Int? = nil,
                         slotSavePath: String? = nil) throws -> ServerConfiguration {
        var inputs = ServeInputs()
        inputs.model = TestModel.path
        inputs.deterministic = deterministic
        inputs.cacheRam = cacheRam
        inputs.slotSavePath = slotSavePath
        return try inputs.resolve(environment: environment)
    }

    @Test func fastKernelsAndRepackedWeightsAreTheDefault() throws {
        let configuration = try resolve([:])
        #expect(!configuration.engine.context.batchInvariant)
        #expect(configuration.repackWeights)
    }

    @Test func deterministicComesFromTheFlagOrTheEnvironment() throws {
        for configuration in [try resolve([:], deterministic: true), try resolve(["GEMMA_DETERMINISTIC": "1"])] {
            #expect(configuration.engine.context.batchInvariant)
            #expect(!configuration.repackWeights)
        }
        #expect(try !resolve(["GEMMA_DETERMINISTIC": "off"]).engine.context.batchInvariant)
        #expect(throws: InputError.self) { try resolve(["GEMMA_DETERMINISTIC": "maybe"]) }
    }

    @Test func cacheRamTakesLlamaServersValues() throws {
        #expect(try resolve([:]).engine.promptCache == .automatic)
        #expect(try resolve([:], cacheRam: 0).engine.promptCache == .off)
        #expect(try resolve(["LLAMA_ARG_CACHE_RAM": "-1"]).engine.promptCache == .unlimited)
        #expect(try resolve(["GEMMA_CACHE_RAM": "256"], cacheRam: 512).engine.promptCache == .mebibytes(512))
        #expect(throws: InputError.self) { try resolve([:], cacheRam: -5) }
        #expect(throws: InputError.self) { try resolve(["LLAMA_ARG_CACHE_RAM": "lots"]) }
    }

    @Test func slotSavePathMustBeAWritableDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.path
        #expect(try resolve([:], slotSavePath: directory).engine.slotSavePath == directory)
        #expect(try resolve(["LLAMA_ARG_SLOT_SAVE_PATH": directory]).engine.slotSavePath == directory)
        #expect(throws: ServeError.self) { try resolve([:], slotSavePath: "/nonexistent/gemmactl-slots") }
    }

    @Test func microBatchFollowsLlamaServer() throws {
        func sizes(_ environment: [String: String]) throws -> (Int, Int) {
            let context = try resolve(environment).engine.context
            return (context.batchSize, context.microBatchSize)
        }
        #expect(try sizes([:]) == (512, 512))
        #expect(try sizes(["LLAMA_ARG_BATCH": "2048"]) == (2048, 512))
        #expect(try sizes(["GEMMA_BATCH_SIZE": "128"]) == (128, 128))
        #expect(try sizes(["GEMMA_BATCH_SIZE": "2048", "LLAMA_ARG_UBATCH": "256"]) == (2048, 256))
        #expect(try sizes(["GEMMA_UBATCH_SIZE": "1024"]) == (512, 512))
        #expect {
            _ = try resolve(["GEMMA_UBATCH_SIZE": "0"])
        } throws: { error in
            "\(error)".contains("--ubatch-size")
        }
    }

    @Test func aBadSwitchValueNamesTheVariable() {
        #expect {
            _ = try resolve(["GEMMA_DETERMINISTIC": "sometimes"])
        } throws: { error in
            "\(error)".contains("GEMMA_DETERMINISTIC") && "\(error)".contains("sometimes")
        }
    }

    @Test func modelTakesARepositoryWithAQuantAsPullDoes() throws {
        var inputs = ServeInputs()
        inputs.model = "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"
        let configuration = try inputs.resolve(environment: ["LLAMA_OFFLINE": "1"])
        #expect(configuration.modelSource == .huggingFace(repo: "ggml-org/gemma-3-1b-it-GGUF", file: nil, quant: "Q4_K_M", revision: "main"))
        #expect(configuration.offline)
        #expect(configuration.modelID == "gemma-3-1b-it-GGUF:Q4_K_M")
        // A missing .gguf is still a missing file, not a bad repository name.
        inputs.model = "missing-model.gguf"
        #expect { _ = try inputs.resolve(environment: [:]) } throws: { error in "\(error)".contains("missing-model.gguf") }
        inputs.model = "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"
        inputs.hfFile = "x.gguf"
        #expect { _ = try inputs.resolve(environment: [:]) } throws: { error in "\(error)".contains("--hf-repo") }
    }

    @Test func corsOriginsComeFromTheFlagOrLlamaServersVariable() throws {
        #expect(try resolve([:]).corsOrigins.isEmpty)
        #expect(try resolve(["LLAMA_ARG_CORS_ORIGINS": "https://a.example, http://localhost:3000"]).corsOrigins
                == ["https://a.example", "http://localhost:3000"])
        #expect(try resolve(["GEMMA_CORS_ORIGINS": "*"]).corsOrigins == ["*"])
        #expect { _ = try resolve(["GEMMA_CORS_ORIGINS": "https://a.example/path"]) } throws: { error in
            "\(error)".contains("--cors-origins") && "\(error)".contains("https://a.example/path")
        }
    }
}
