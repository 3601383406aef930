import GemmaKit
import Testing

@Suite("Serve inputs")
struct ServeInputsTests {
    private func resolve(_ environment: [String: String], fastKernels: Bool = false) throws -> ServerConfiguration {
        var inputs = ServeInputs()
        inputs.model = TestModel.path
        inputs.fastKernels = fastKernels
        return try inputs.resolve(environment: environment)
    }

    @Test func batchInvariantKernelsAreTheDefault() throws {
        #expect(try resolve([:]).engine.context.batchInvariant)
    }

    @Test func fastKernelsComeFromTheFlagOrTheEnvironment() throws {
        #expect(try !resolve([:], fastKernels: true).engine.context.batchInvariant)
        #expect(try !resolve(["GEMMA_FAST_KERNELS": "1"]).engine.context.batchInvariant)
        #expect(try resolve(["GEMMA_FAST_KERNELS": "off"]).engine.context.batchInvariant)
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
            _ = try resolve(["GEMMA_FAST_KERNELS": "sometimes"])
        } throws: { error in
            "\(error)".contains("GEMMA_FAST_KERNELS") && "\(error)".contains("sometimes")
        }
    }
}
