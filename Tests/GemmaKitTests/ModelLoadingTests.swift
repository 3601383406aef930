import Foundation
import Testing
@testable import GemmaKit

@Suite("Loading bad model files gives distinct errors")
struct ModelLoadingTests {
    func loadError(_ path: String) -> EngineError? {
        do {
            _ = try LlamaModel(path: path)
            return nil
        } catch {
            return error
        }
    }

    @Test func missingFile() throws {
        let error = try #require(loadError("/nonexistent/dir/model.gguf"))
        #expect(error.code == .modelNotFound)
        #expect(error.message.contains("/nonexistent/dir/model.gguf"))
        #expect(error.recovery != nil)
    }

    @Test func notAGGUF() throws {
        let directory = TemporaryDirectory()
        let file = directory.file("model.gguf")
        try Data("<html>404 Not Found</html>".utf8).write(to: file)
        let error = try #require(loadError(file.path))
        #expect(error.code == .notGGUF)
        #expect(error.message.contains(file.path))
    }

    @Test func emptyFile() throws {
        let directory = TemporaryDirectory()
        let file = directory.file("empty.gguf")
        try Data().write(to: file)
        #expect(loadError(file.path)?.code == .notGGUF)
    }

    @Test func directoryInsteadOfFile() throws {
        let directory = TemporaryDirectory()
        #expect(loadError(directory.url.path)?.code == .modelUnreadable)
    }

    @Test func truncatedCopyOfTheRealModel() throws {
        let directory = TemporaryDirectory()
        let file = directory.file("truncated.gguf")
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: TestModel.path))
        let head = try handle.read(upToCount: 40 << 20) ?? Data()
        try handle.close()
        try head.write(to: file)
        let error = try #require(loadError(file.path))
        #expect(error.code == .truncatedModel)
        #expect(error.message.contains("truncated"))
    }

    @Test func truncatedInsideTheHeader() throws {
        let directory = TemporaryDirectory()
        let file = directory.file("header.gguf")
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: TestModel.path))
        try (handle.read(upToCount: 100_000) ?? Data()).write(to: file)
        try handle.close()
        #expect(loadError(file.path)?.code == .truncatedModel)
    }

    @Test func hostileLengthIsCorruptNotAnAllocation() throws {
        let directory = TemporaryDirectory()
        let file = directory.file("hostile.gguf")
        var builder = RawGGUFWriter.header()
        builder.bytes.removeLast(8)  // metadata count
        builder.u64(1)
        builder.u64(1 << 60)  // a key "length" of 2^60 bytes
        builder.raw([UInt8](repeating: 0x41, count: 256))
        try builder.write(to: file)
        let error = try #require(loadError(file.path))
        #expect(error.code == .corruptModel)
    }

    @Test func unsupportedVersion() throws {
        let directory = TemporaryDirectory()
        let file = directory.file("v9.gguf")
        try RawGGUFWriter.header(version: 9).write(to: file)
        let error = try #require(loadError(file.path))
        #expect(error.code == .corruptModel)
        #expect(error.message.contains("version 9"))
    }

    @Test func unsupportedArchitecture() throws {
        let directory = TemporaryDirectory()
        let file = directory.file("arch.gguf")
        try RawGGUFWriter.header(strings: [("general.architecture", "notamodel")]).write(to: file)
        let error = try #require(loadError(file.path))
        #expect(error.code == .unsupportedArchitecture)
        #expect(error.message.contains("notamodel"))
    }

    @Test func theProcessSurvivesAndStillLoadsAGoodModel() throws {
        _ = loadError("/nonexistent.gguf")
        let model = try LlamaModel(path: TestModel.path)
        #expect(model.layerCount == 18)
        #expect(model.vocabularySize == 262_144)
    }
}
