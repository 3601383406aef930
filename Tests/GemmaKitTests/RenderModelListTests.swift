import Foundation
import Testing
import Yams
@testable import GemmaKit

/// `model.list`: several models in every gemmactl pod.
@Suite("gemmactl render: several models in one pod")
struct RenderModelListTests {
    private func objects(_ values: RenderValues) throws -> [(kind: String, name: String, node: Node)] {
        let resolved = values.resolved()
        try resolved.validate()
        return try renderer.render(resolved).map { ($0.kind, $0.name, try #require(try Yams.compose(yaml: $0.text))) }
    }

    private func strings(_ node: Node?) -> [String] { node?.sequence?.compactMap(\.string) ?? [] }

    @Test("the init container pulls every model once; serve gets -m ALIAS=REF for each and --models-max")
    func pullAndServeArguments() throws {
        let all = try objects(RenderScenario.gemmactlModels.values)
        let server = try #require(all.first { $0.kind == "StatefulSet" }?.node)
        let pod = try #require(server["spec"]?["template"]?["spec"])
        #expect(strings(pod["initContainers"]?[0]?["args"]) == ["pull", "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M",
                                                                "ggml-org/embeddinggemma-300M-GGUF:Q8_0", "ollama://gemma3:1b"])
        let args = strings(pod["containers"]?[0]?["args"])
        #expect(args.starts(with: ["serve", "--host", "0.0.0.0", "--port", "8080",
                                   "--model", "chat=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M",
                                   "--model", "embed=ggml-org/embeddinggemma-300M-GGUF:Q8_0",
                                   "--model", "ollama://gemma3:1b", "--models-max", "2", "--ctx-size", "4096"]))
        #expect(!args.contains("--hf-repo") && !args.contains("--hf-file"))
        // Scale-out keeps working: every pod of the pool serves every model.
        #expect(all.contains { $0.kind == "InferencePool" })
        #expect(server["spec"]?["volumeClaimTemplates"]?[0]?["spec"]?["resources"]?["requests"]?["storage"]?.string == "10Gi")

        // Two aliases of one model: pulled once, served under both names.
        var twice = RenderValues()
        twice.model.list = ["chat=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M", "fast=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"]
        let single = try #require(try objects(twice).first { $0.kind == "Deployment" }?.node["spec"]?["template"]?["spec"])
        #expect(strings(single["initContainers"]?[0]?["args"]) == ["pull", "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"])
        let served = strings(single["containers"]?[0]?["args"])
        #expect(served.filter { $0.contains("=") } == ["chat=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M", "fast=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"])
        #expect(!served.contains("--models-max"))
    }

    @Test("model.list belongs to the gemmactl profile; --set takes a list and --print-values shows it")
    func profileAndValues() throws {
        var values = try ValuesLoader.load(file: nil, sets: ["model.list={chat=a/b:Q4_K_M,embed=c/d}", "server.modelsMax=1"])
        #expect(values.model.list == ["chat=a/b:Q4_K_M", "embed=c/d"])
        #expect(values.model.specs.map(\.name) == ["chat", "embed"])
        let printed = try ValuesLoader.yaml(values.resolved())
        #expect(printed.contains("list:\n  - chat=a/b:Q4_K_M\n  - embed=c/d") || printed.contains("- 'chat=a/b:Q4_K_M'") || printed.contains("chat=a/b:Q4_K_M"))
        #expect(try ValuesLoader.decode(ValuesLoader.merge(text: printed, source: "printed", into: ValuesLoader.defaultsTree())) == values.resolved())
        values.profile = "llama-server"
        let error = try #require(throws: InputError.self) { try values.resolved().validate() }
        #expect(error.message.contains("model.list is set, but only the gemmactl profile"))
    }

    @Test("the volume must hold the models' sum; two aliases of one file count it once; an unknown size is said")
    func volumeCheck() throws {
        var values = RenderValues()
        values.model.list = ["chat=a/b:Q4_K_M", "fast=a/b:Q4_K_M", "embed=c/d:Q8_0", "other=e/f"]
        values.storage.size = "1900Mi"
        let chat = ModelListSizing.Entry(spec: try ModelSpec.parse("chat=a/b:Q4_K_M"), path: "/cache/b.gguf", bytes: 1 << 30)
        let fast = ModelListSizing.Entry(spec: try ModelSpec.parse("fast=a/b:Q4_K_M"), path: "/cache/b.gguf", bytes: 1 << 30)
        let embed = ModelListSizing.Entry(spec: try ModelSpec.parse("embed=c/d:Q8_0"), path: "/cache/d.gguf", bytes: 900 << 20)
        let other = ModelListSizing.Entry(spec: try ModelSpec.parse("other=e/f"), path: nil, bytes: nil)
        let sizing = ModelListSizing(entries: [chat, fast, embed, other], cacheDirectory: "/cache")
        let error = try #require(throws: InputError.self) { try sizing.checkVolume(values) }
        #expect(error.message.contains("storage.size 1900Mi cannot hold model.list: chat 1.0 GiB + embed 900 MiB = 1.9 GiB"), "\(error.message)")
        #expect(error.recovery?.contains("--set storage.size=") == true)

        values.storage.size = "3Gi"
        let notes = try sizing.checkVolume(values)
        #expect(notes.count == 1)
        #expect(notes.first?.contains("model.list 'other=e/f' is not in the local cache (/cache): its size is unknown and counted as 0") == true)
        #expect(try sizing.plan(values) == nil)
    }
}
