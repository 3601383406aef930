import ArgumentParser
import Foundation
import GemmaKit
@testable import GemmactlCommands
import Testing

/// The commands' own logic, called in-process (the library target makes it reachable).
@Suite("Commands in-process")
struct CommandsUnitTests {
    @Test func renderFlagsWinOverValuesAndSplitTheImage() throws {
        var values = RenderValues()
        values.server.ctxSize = 2048
        try Gemmactl.Render.parse(["--image", "registry:5000/team/gemmactl:0.2", "--ctx-size", "8192", "--gateway", "eg/gw-ns",
                                   "--namespace", "llm"]).applyFlags(to: &values)
        #expect(values.image.repository == "registry:5000/team/gemmactl" && values.image.tag == "0.2")
        #expect(values.server.ctxSize == 8192 && values.namespace == "llm")
        #expect(values.gateway.name == "eg" && values.gateway.namespace == "gw-ns")
        try Gemmactl.Render.parse(["--image", "ghcr.io/x/y@sha256:abc"]).applyFlags(to: &values)
        #expect(values.image.repository == "ghcr.io/x/y" && values.image.tag == "sha256:abc")
        try Gemmactl.Render.parse(["--image", "registry:5000/team/gemmactl"]).applyFlags(to: &values)
        #expect(values.image.repository == "registry:5000/team/gemmactl" && values.image.tag == "")
    }

    @Test func renderAndClientsReadAKeyFileTheSameWay() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("key").path
        try "# rotated 2026-01-01\n\n  gk_first  \ngk_second\n".write(toFile: file, atomically: true, encoding: .utf8)

        let render = try Gemmactl.Render.parse(["--secret-source", "secret", "--api-key-file", file])
        var values = RenderValues()
        render.applyFlags(to: &values)
        #expect(try render.readAPIKey(values) == "gk_first")
        let client = try Flags.Client.parse(["--api-key-file", file])
        #expect(try client.apiKey(environment: ["GEMMA_API_KEY": "from-env"]) == "gk_first")
        #expect(try Flags.Client.parse([]).apiKey(environment: ["GEMMA_API_KEY": " a , b"]) == "a")
        #expect(try Flags.Client.parse([]).apiKey(environment: [:]) == nil)

        try "# nothing here\n\n".write(toFile: file, atomically: true, encoding: .utf8)
        let readers: [() throws -> String?] = [{ try render.readAPIKey(values) }, { try client.apiKey(environment: [:]) }]
        for read in readers {
            #expect { _ = try read() } throws: { error in "\(error)".contains("--api-key-file \(file) holds no key") }
        }
        values.secret.source = SecretSource.externalSecret.rawValue
        #expect(try render.readAPIKey(values) == nil)
    }

    @Test func planAndServeShareTheirDefaults() throws {
        let plan = try Flags.Slots.parse([]).resolve(in: [:])
        #expect(plan.parallel == 4 && plan.contextSize == 4096 && plan.batchSize == 512 && plan.microBatchSize == 512 && plan.gpuLayers == 0)
        let small = try Flags.Slots.parse(["-b", "128", "-np", "2"]).resolve(in: ["GEMMA_PARALLEL": "8", "GEMMA_N_GPU_LAYERS": "3"])
        #expect(small.microBatchSize == 128 && small.parallel == 2 && small.gpuLayers == 3)
        // One range per setting, whichever command reads it: serve, plan and doctor refuse the same values.
        for command in [Gemmactl.Serve.self, Gemmactl.Plan.self, Gemmactl.Doctor.self] as [any ParsableCommand.Type] {
            for arguments in [["-np", "257"], ["-np", "0"], ["-c", "15"], ["-ub", "0"], ["-t", "0"]] {
                #expect(throws: (any Error).self, "\(command) took \(arguments)") { try command.parseAsRoot(arguments) }
            }
            #expect(throws: Never.self) { try command.parseAsRoot(["-np", "256", "-c", "16"]) }
        }
        #expect(throws: (any Error).self) { try Gemmactl.Generate.parse(["-p", "x", "-c", "15"]) }
        #expect(try Gemmactl.Generate.parse(["-p", "x", "-b", "64"]).compute.resolve(in: [:]).context.microBatchSize == 64)
        #expect {
            _ = try Flags.Slots.parse([]).resolve(in: ["LLAMA_ARG_N_PARALLEL": "300"])
        } throws: { error in
            "\(error)".contains("LLAMA_ARG_N_PARALLEL") && "\(error)".contains("between 1 and 256")
        }
    }

    @Test func durationsAreParsedOnceWhenTheFlagsAre() throws {
        #expect(try Flags.Client.parse(["--timeout", "1m30s"]).timeout == .seconds(90))
        #expect(throws: (any Error).self) { try Flags.Client.parse(["--timeout", "soon"]) }
        #expect(throws: (any Error).self) { try Flags.Client.parse(["--timeout", "0s"]) }
    }
}
