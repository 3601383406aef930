import Foundation
import Testing
@testable import GemmaKit

@Suite("GGUF inspect and the memory planner")
struct InspectPlanTests {
    @Test func realDefaultModelSummary() throws {
        let summary = try ModelSummary(GGUFFile(path: TestModel.path))
        #expect(summary.architecture == "gemma3")
        #expect(summary.layers == 18)
        #expect(summary.vocabularySize == 262_144)
        #expect(summary.fileType == "Q4_K_M")
        #expect(summary.embeddingSize == 640)
        #expect(summary.heads == 4)
        #expect(summary.kvHeads == 1)
        #expect(summary.headSizeK == 256)
        #expect(summary.contextLength == 32768)
        #expect(summary.slidingWindow == 512)
        #expect(!summary.hasChatTemplate)   // this GGUF carries no tokenizer.chat_template
        // Every 6th layer is global: layers 5, 11, 17.
        #expect(summary.slidingWindowLayers.enumerated().filter { !$0.element }.map(\.offset) == [5, 11, 17])
        // Gemma 3 270M: about 268M parameters.
        #expect((260_000_000...275_000_000).contains(summary.parameterCount))
        #expect(summary.weightBytes <= summary.fileSize)
    }

    func write(_ data: Data, in directory: TemporaryDirectory, _ name: String = "m.gguf") throws -> String {
        let url = directory.url.appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    func readError(_ path: String) -> GGUFError? {
        do { _ = try ModelSummary(GGUFFile(path: path)); return nil } catch { return error }
    }

    @Test func craftedModelSummary() throws {
        let directory = TemporaryDirectory()
        let path = try write(GGUFBuilder.gemma3(layers: 12).build(), in: directory)
        let summary = try ModelSummary(GGUFFile(path: path))
        #expect(summary.layers == 12)
        #expect(summary.vocabularySize == 32)
        #expect(summary.fileType == "F32")
        let perLayer: UInt64 = 64 * 128 + 64
        let expected: UInt64 = 64 * 32 + 12 * perLayer
        #expect(summary.parameterCount == expected)
        #expect(summary.slidingWindowLayers.enumerated().filter { !$0.element }.map(\.offset) == [5, 11])
    }

    @Test func splitModelIsSummedOverItsShardsAndAMissingShardIsNamed() throws {
        let directory = TemporaryDirectory()
        func split(_ builder: GGUFBuilder, _ index: UInt16) -> Data {
            var builder = builder
            builder.metadata.append(("split.no", 2, GGUFBuilder.le(index)))
            builder.metadata.append(("split.count", 2, GGUFBuilder.le(UInt16(3))))
            return builder.build()
        }
        var later = GGUFBuilder()
        later.tensors = [("blk.9.ffn_up.weight", [64, 256], 0)]
        let names = (1...3).map { "tiny-0000\($0)-of-00003.gguf" }
        let first = try write(split(GGUFBuilder.gemma3(layers: 12), 0), in: directory, names[0])
        let second = try write(split(later, 1), in: directory, names[1])
        let third = try write(split(later, 2), in: directory, names[2])
        let whole = try ModelSummary(GGUFFile(path: first))
        let alone = try ModelSummary(GGUFFile(path: try write(GGUFBuilder.gemma3(layers: 12).build(), in: directory)))
        #expect(whole.tensorCount == alone.tensorCount + 2)
        #expect(whole.parameterCount == alone.parameterCount + 2 * 64 * 256)
        #expect(whole.weightBytes == alone.weightBytes + 2 * 64 * 256 * 4)
        let sizes = try [first, second, third].map { try FileManager.default.attributesOfItem(atPath: $0)[.size] as! UInt64 }
        #expect(whole.fileSize == sizes.reduce(0, +))

        let notFirst = readError(second)
        #expect(notFirst?.code == .splitModel)
        #expect(notFirst?.message.contains("shard 2 of 3") == true)
        try FileManager.default.removeItem(atPath: third)
        let missing = readError(first)
        #expect(missing?.code == .splitModel)
        #expect(missing?.message.contains(names[2]) == true)
    }

    @Test func truncatedCopiesOfTheRealModelAreClearErrors() throws {
        let directory = TemporaryDirectory()
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: TestModel.path))
        let head = try handle.read(upToCount: 8 << 20) ?? Data()
        try handle.close()
        for length in [3, 7, 24, 1000, 100_000, head.count] {
            let error = readError(try write(head.prefix(length), in: directory, "cut-\(length).gguf"))
            #expect(error != nil, "a \(length)-byte prefix was accepted")
            #expect(error.map { [.truncated, .notGGUF].contains($0.code) } == true, "\(String(describing: error))")
        }
    }

    @Test func hostileHeadersAreRejectedWithoutHugeAllocations() throws {
        let directory = TemporaryDirectory()
        let good = GGUFBuilder.gemma3().build()
        func patched(at offset: Int, _ bytes: Data) -> Data {
            var data = good
            data.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            return data
        }
        // Bad magic, bad version, a tensor count of 2^62, a metadata count of 2^40, a key length past the end.
        let cases: [(Data, GGUFError.Code)] = [
            (patched(at: 0, Data("GGML".utf8)), .notGGUF),
            (patched(at: 4, GGUFBuilder.le(UInt32(99))), .unsupportedVersion),
            (patched(at: 8, GGUFBuilder.le(UInt64(1) << 62)), .corrupt),
            (patched(at: 16, GGUFBuilder.le(UInt64(1) << 40)), .corrupt),
            (patched(at: 24, GGUFBuilder.le(UInt64(1) << 20)), .truncated),
        ]
        for (index, (data, code)) in cases.enumerated() {
            let error = readError(try write(data, in: directory, "bad-\(index).gguf"))
            #expect(error?.code == code, "case \(index): \(String(describing: error))")
            #expect(error?.message.contains("bad-\(index).gguf") == true)
        }
        // Missing the architecture key: corrupt, named.
        var builder = GGUFBuilder.gemma3()
        builder.metadata.removeAll { $0.0 == "general.architecture" }
        #expect(readError(try write(builder.build(), in: directory, "noarch.gguf"))?.code == .corrupt)
        // Tensor data cut short.
        #expect(readError(try write(good.dropLast(100), in: directory, "short.gguf"))?.code == .truncated)
    }

    @Test func kvCacheFollowsTheFormula() throws {
        let summary = try ModelSummary(GGUFFile(path: TestModel.path))
        // 18 layers × (1 KV head × 256) K + V, f16: 1024 bytes per cell per layer; swa_full keeps all cells.
        let plan = MemoryPlanner.plan(summary, options: PlanOptions(contextSize: 4096, parallel: 1))
        #expect(plan.kvCacheBytes == 18 * 4096 * 1024)
        #expect(plan.kvGroups.map(\.layers) == [3, 15])
        #expect(plan.weightsBytes == summary.weightBytes)
        #expect(plan.totalBytes == plan.weightsBytes + plan.kvCacheBytes + plan.computeBytes + plan.embeddingsBytes + plan.overheadBytes)
        // The embeddings context: one sequence in all 18 layers, plus the mask, which grow with its size.
        let longer = MemoryPlanner.plan(summary, options: PlanOptions(contextSize: 4096, parallel: 1, embeddingContextSize: 4096))
        #expect(longer.embeddingsBytes - plan.embeddingsBytes
                == 18 * 2048 * 1024 + 2048 * UInt64(EmbeddingRunner.chunkSize) * 4)
        // Parallel 3 over 5000 tokens: n_ctx pads to 5120, 5120/3 = 1706 pads to 1792 per sequence.
        let split = MemoryPlanner.plan(summary, options: PlanOptions(contextSize: 5000, parallel: 3))
        #expect(split.contextPerSequence == 1792)
        #expect(split.kvCacheBytes == 18 * 1792 * 3 * 1024)
        // q8_0 K: 256 elements → 8 blocks × 34 bytes = 272 bytes instead of 512.
        let q8 = MemoryPlanner.plan(summary, options: PlanOptions(contextSize: 4096, cacheTypeK: .q8_0))
        #expect(q8.kvCacheBytes == 18 * 4096 * (272 + 512))
        // Without swa_full the 15 sliding layers hold pad(512 + 512, 256) = 1024 cells.
        let small = MemoryPlanner.plan(summary, options: PlanOptions(contextSize: 8192, swaFull: false))
        #expect(small.kvCacheBytes == 3 * 8192 * 1024 + 15 * 1024 * 1024)
        // Headroom against an explicit limit, and a plan that does not fit.
        let tight = MemoryPlanner.plan(summary, options: PlanOptions(contextSize: 4096, memoryLimit: 256 << 20))
        #expect(tight.headroomBytes == Int64(256 << 20) - Int64(tight.totalBytes))
        #expect(tight.headroomBytes < 0)
        #expect(tight.promptCacheBytes == 0)
        // The prompt cache's default share: half the headroom, as serve sizes it under that limit.
        let roomy = MemoryPlanner.plan(summary, options: PlanOptions(contextSize: 4096, memoryLimit: 4 << 30))
        #expect(roomy.promptCacheBytes == ((UInt64(roomy.headroomBytes) / 2) >> 20) << 20)
        #expect(plan.limitMemoryBytes >= plan.requestMemoryBytes && plan.requestMemoryBytes >= plan.totalBytes)
    }

    @Test func quantities() throws {
        // What plan writes, ByteSize (the one size parser) reads back.
        #expect(try ByteSize.parse(MemoryPlanner.quantity(1 << 30)) == 1 << 30)
        #expect(try ByteSize.parse(MemoryPlanner.quantity(300 << 20)) == 300 << 20)
        #expect(MemoryPlanner.quantity(1 << 30) == "1Gi")
        #expect(MemoryPlanner.quantity(300 << 20) == "300Mi")
    }
}

@Suite("The memory plan of a pod serving several models")
struct PodMemoryPlanTests {
    @Test func theLargestLoadedAtOnceAreCountedAndTheProcessBaseOnce() throws {
        let options = PlanOptions(contextSize: 2048, parallel: 2)
        let gemma3 = try MemoryPlanner.plan(path: try DefaultModel.path(in: .resolve(environment: ProcessInfo.processInfo.environment)), options: options)
        let gemma4 = try MemoryPlanner.plan(path: try TinyGemma4.path.get(), options: options)
        #expect(gemma4.totalBytes < gemma3.totalBytes)
        let models = [(spec: try ModelSpec.parse("small=tiny.gguf"), plan: gemma4), (spec: try ModelSpec.parse("chat=org/repo:Q4_K_M"), plan: gemma3)]

        let all = MemoryPlanner.plan(models: models)
        #expect(all.modelsMax == 2)
        #expect(all.models.map(\.name) == ["small", "chat"])
        #expect(all.totalBytes == gemma3.totalBytes + gemma4.totalBytes - MemoryPlanner.processBaseBytes)
        #expect(all.requestMemoryBytes >= all.totalBytes && all.limitMemoryBytes > all.requestMemoryBytes)
        #expect(all.limitBytes == all.limitMemoryBytes && all.headroomBytes > 0)

        // One at a time: sized for the larger, the smaller not counted.
        let one = MemoryPlanner.plan(models: models, modelsMax: 1, memoryLimit: 64 << 20)
        #expect(one.totalBytes == gemma3.totalBytes)
        #expect(one.models.map(\.counted) == [false, true])
        #expect(one.limitMemoryBytes == gemma3.limitMemoryBytes && one.requestMemoryBytes == gemma3.requestMemoryBytes)
        #expect(one.headroomBytes < 0)
        // More than given: all of them.
        #expect(MemoryPlanner.plan(models: models, modelsMax: 4).totalBytes == all.totalBytes)
        #expect(MemoryPlanReport.text(one).contains("at most 1 of 2 loaded at once"))
    }

    @Test func aliasesParse() throws {
        #expect(try ModelSpec.parse("chat=ggml-org/gemma-3-1b-it-GGUF:Q4_K_M") == ModelSpec(alias: "chat", reference: "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M"))
        #expect(try ModelSpec.parse("gemma3:1b=ollama://gemma3:1b").alias == "gemma3:1b")
        #expect(try ModelSpec.parse("ggml-org/gemma-3-1b-it-GGUF") == ModelSpec(reference: "ggml-org/gemma-3-1b-it-GGUF"))
        // Before a '/', an '=' is part of a path.
        #expect(try ModelSpec.parse("./a=b.gguf") == ModelSpec(reference: "./a=b.gguf"))
        #expect(try ModelSpec.parse("chat=./a=b.gguf").reference == "./a=b.gguf")
        #expect(throws: InputError.self) { try ModelSpec.parse("chat=") }
        #expect(throws: InputError.self) { try ModelSpec.parse("=x.gguf") }
        #expect(throws: InputError.self) { try ModelSpec.parse("bad alias=x.gguf") }
        #expect(throws: InputError.self) { try ModelSpec.parse("") }
        #expect(ModelSpec(alias: "chat", reference: "x.gguf").description == "chat=x.gguf")
    }
}
