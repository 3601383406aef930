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

    @Test func aBadSwitchValueNamesTheVariable() {
        #expect {
            _ = try resolve(["GEMMA_FAST_KERNELS": "sometimes"])
        } throws: { error in
            "\(error)".contains("GEMMA_FAST_KERNELS") && "\(error)".contains("sometimes")
        }
    }
}
