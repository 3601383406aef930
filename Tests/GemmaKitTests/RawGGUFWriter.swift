import Foundation

/// Writes small GGUF files for tests, field by field, so tests can also write wrong ones.
struct RawGGUFWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ data: [UInt8]) { bytes += data }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func string(_ value: String) { u64(UInt64(value.utf8.count)); bytes += Array(value.utf8) }

    /// A header with the given string and u32 metadata and no tensors.
    static func header(version: UInt32 = 3, strings: [(String, String)] = [], integers: [(String, UInt32)] = [],
                       tensorCount: UInt64 = 0) -> RawGGUFWriter {
        var builder = RawGGUFWriter()
        builder.raw(Array("GGUF".utf8))
        builder.u32(version)
        builder.u64(tensorCount)
        builder.u64(UInt64(strings.count + integers.count))
        for (key, value) in strings { builder.string(key); builder.u32(8); builder.string(value) }
        for (key, value) in integers { builder.string(key); builder.u32(4); builder.u32(value) }
        return builder
    }

    func write(to url: URL) throws { try Data(bytes).write(to: url) }
}

/// A temporary directory removed when the test ends.
final class TemporaryDirectory: Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
}
