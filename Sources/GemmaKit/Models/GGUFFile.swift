import Foundation

/// A metadata value from a GGUF header.
public enum GGUFValue: Sendable, Equatable {
    case uint(UInt64, bits: Int)
    case int(Int64, bits: Int)
    case float(Double, bits: Int)
    case bool(Bool)
    case string(String)
    /// An array: its element type name, its length, and up to `GGUFFile.arrayPreviewLimit` elements.
    case array(elementType: String, count: UInt64, preview: [GGUFValue])

    public var intValue: Int64? {
        switch self {
        case .uint(let v, _): return v <= UInt64(Int64.max) ? Int64(v) : nil
        case .int(let v, _): return v
        default: return nil
        }
    }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var doubleValue: Double? {
        switch self {
        case .float(let v, _): return v
        default: return intValue.map(Double.init)
        }
    }
}

/// One tensor's entry in a GGUF header.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let dimensions: [UInt64]
    public let type: GGMLType
    /// Offset from the start of the tensor data section.
    public let offset: UInt64
    public var elementCount: UInt64 { dimensions.reduce(1, *) }
    /// Bytes of tensor data, or nil for an unknown type.
    public var byteCount: UInt64? { type.byteCount(elements: elementCount) }
}

/// Errors reading a GGUF file. Each names the file and what is wrong with it.
public struct GGUFError: ActionableError, Equatable {
    /// Which kind of failure this is: a struct around a private code, so kinds can be added without
    /// breaking callers; compare with the static members (`error.code == .notFound`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case notFound, unreadable, notGGUF, unsupportedVersion, truncated, corrupt, splitModel
        }
        fileprivate let base: Base
        public var description: String { base.rawValue }

        public static let notFound = Code(base: .notFound)
        public static let unreadable = Code(base: .unreadable)
        public static let notGGUF = Code(base: .notGGUF)
        public static let unsupportedVersion = Code(base: .unsupportedVersion)
        public static let truncated = Code(base: .truncated)
        public static let corrupt = Code(base: .corrupt)
        public static let splitModel = Code(base: .splitModel)

        /// The engine's code for a model that failed to open for this reason.
        var engineCode: EngineError.Code {
            switch base {
            case .notFound: .modelNotFound
            case .unreadable: .modelUnreadable
            case .notGGUF: .notGGUF
            case .truncated: .truncatedModel
            case .unsupportedVersion, .corrupt: .corruptModel
            case .splitModel: .modelLoadFailed
            }
        }
    }
    public let code: Code
    public let path: String
    public let message: String
    public let recovery: String?

    public init(_ code: Code, path: String, _ detail: String) {
        self.code = code
        self.path = path
        switch code.base {
        case .notFound:
            message = "model file not found: \(path)"
            recovery = "check the path, or fetch the default model with scripts/fetch-model or a model with `gemmactl pull`"
        case .unreadable:
            message = "cannot read model file \(path): \(detail)"
            recovery = "check the file's permissions and that it is a regular file"
        case .notGGUF:
            message = "\(path) is not a GGUF model file: \(detail)"
            recovery = "pass a .gguf file (llama.cpp's format); convert other formats with llama.cpp's convert_hf_to_gguf.py"
        case .unsupportedVersion:
            message = "\(path) uses an unsupported GGUF version: \(detail)"
            recovery = "re-download or re-convert the model with a current llama.cpp"
        case .truncated:
            message = "model file \(path) is truncated: \(detail)"
            recovery = "the download was probably cut short: delete the file and download it again"
        case .corrupt:
            message = "model file \(path) is corrupt: \(detail)"
            recovery = "delete the file and download it again; check its sha256 against the source"
        case .splitModel:
            message = "\(path) is part of a split model: \(detail)"
            recovery = "pass the first shard (NAME-00001-of-0000N.gguf) with every shard in the same folder; `gemmactl pull` fetches them all"
        }
    }
}

/// A parsed GGUF header: metadata and tensor infos, bounds-checked against the file's size.
///
/// Reading never trusts a count or length from the file: each is checked against the bytes that
/// remain before anything is allocated, so a hostile or truncated file is an error, not a crash.
public struct GGUFFile: Sendable {
    public static let arrayPreviewLimit = 16

    public let path: String
    public let version: UInt32
    public let fileSize: UInt64
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [GGUFTensorInfo]
    public let alignment: UInt64
    /// Where the tensor data section starts.
    public let dataOffset: UInt64

    public subscript(key: String) -> GGUFValue? { metadata.first { $0.key == key }?.value }

    public var architecture: String? { self["general.architecture"]?.stringValue }

    /// A metadata value under the architecture's prefix, e.g. `arch("block_count")`.
    public func arch(_ suffix: String) -> GGUFValue? {
        guard let architecture else { return nil }
        return self["\(architecture).\(suffix)"]
    }

    /// Total bytes of tensor data.
    public var tensorDataBytes: UInt64 { tensors.reduce(0) { $0 + ($1.byteCount ?? 0) } }

    public init(path: String) throws(GGUFError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw GGUFError(.notFound, path: path, "")
        }
        if isDirectory.boolValue { throw GGUFError(.unreadable, path: path, "it is a directory") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw GGUFError(.unreadable, path: path, (error as NSError).localizedDescription)
        }
        self = try Self.parse(data, path: path)
    }

    init(path: String, version: UInt32, fileSize: UInt64, metadata: [(key: String, value: GGUFValue)],
         tensors: [GGUFTensorInfo], alignment: UInt64, dataOffset: UInt64) {
        self.path = path; self.version = version; self.fileSize = fileSize; self.metadata = metadata
        self.tensors = tensors; self.alignment = alignment; self.dataOffset = dataOffset
    }

    /// Parses a GGUF image already in memory.
    public static func parse(_ data: Data, path: String) throws(GGUFError) -> GGUFFile {
        let result: Result<GGUFFile, GGUFError> = data.withUnsafeBytes { raw in
            var reader = Reader(bytes: raw, path: path)
            return Result { () throws(GGUFError) -> GGUFFile in try reader.readFile() }
        }
        return try result.get()
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        let path: String
        var position = 0
        var version: UInt32 = 3

        var remaining: Int { bytes.count - position }

        func truncated(_ what: String) -> GGUFError {
            GGUFError(.truncated, path: path, "the file ends inside \(what) (at byte \(position) of \(bytes.count))")
        }

        mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(GGUFError) -> T {
            guard remaining >= MemoryLayout<T>.size else { throw truncated(what) }
            let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
            position += MemoryLayout<T>.size
            return T(littleEndian: value)
        }

        /// A count or length: 32-bit in GGUF v1, 64-bit after. Rejects one larger than the bytes left
        /// (each element takes at least `minimumElementSize` bytes).
        mutating func readCount(_ what: String, minimumElementSize: Int) throws(GGUFError) -> Int {
            let raw: UInt64 = version == 1 ? UInt64(try read(UInt32.self, what)) : try read(UInt64.self, what)
            guard raw <= UInt64(remaining / max(1, minimumElementSize)) else {
                if raw > UInt64(Int32.max) {
                    throw GGUFError(.corrupt, path: path, "\(what) is \(raw), far more than the file can hold")
                }
                throw truncated(what)
            }
            return Int(raw)
        }

        mutating func readString(_ what: String) throws(GGUFError) -> String {
            let length = try readCount("the length of \(what)", minimumElementSize: 1)
            let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)])
            position += length
            return String(decoding: slice, as: UTF8.self)
        }

        mutating func skip(_ count: Int, _ what: String) throws(GGUFError) {
            guard remaining >= count else { throw truncated(what) }
            position += count
        }

        static let typeNames = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"]

        static func typeName(_ type: UInt32) -> String {
            typeNames.indices.contains(Int(type)) ? typeNames[Int(type)] : "type\(type)"
        }

        mutating func readValue(type: UInt32, key: String, depth: Int = 0) throws(GGUFError) -> GGUFValue {
            let what = "the value of \(key)"
            switch type {
            case 0: return .uint(UInt64(try read(UInt8.self, what)), bits: 8)
            case 1: return .int(Int64(try read(Int8.self, what)), bits: 8)
            case 2: return .uint(UInt64(try read(UInt16.self, what)), bits: 16)
            case 3: return .int(Int64(try read(Int16.self, what)), bits: 16)
            case 4: return .uint(UInt64(try read(UInt32.self, what)), bits: 32)
            case 5: return .int(Int64(try read(Int32.self, what)), bits: 32)
            case 6: return .float(Double(Float(bitPattern: try read(UInt32.self, what))), bits: 32)
            case 7:
                let byte = try read(UInt8.self, what)
                guard byte <= 1 else { throw GGUFError(.corrupt, path: path, "\(key) holds bool byte \(byte)") }
                return .bool(byte == 1)
            case 8: return .string(try readString(what))
            case 9:
                guard depth == 0 else { throw GGUFError(.corrupt, path: path, "\(key) nests arrays more than once") }
                let elementType = try read(UInt32.self, "the element type of \(key)")
                guard elementType <= 12 else {
                    throw GGUFError(.corrupt, path: path, "\(key) has unknown array element type \(elementType)")
                }
                let count = try readCount("the length of \(key)", minimumElementSize: Self.minimumSize(elementType))
                var preview: [GGUFValue] = []
                preview.reserveCapacity(min(count, GGUFFile.arrayPreviewLimit))
                let fixed = Self.fixedSize(elementType)
                for index in 0..<count {
                    if index >= GGUFFile.arrayPreviewLimit, let fixed {
                        try skip((count - index) * fixed, what)
                        break
                    }
                    let element = try readValue(type: elementType, key: key, depth: depth + 1)
                    if index < GGUFFile.arrayPreviewLimit { preview.append(element) }
                }
                return .array(elementType: Self.typeName(elementType), count: UInt64(count), preview: preview)
            case 10: return .uint(try read(UInt64.self, what), bits: 64)
            case 11: return .int(try read(Int64.self, what), bits: 64)
            case 12: return .float(Double(bitPattern: try read(UInt64.self, what)), bits: 64)
            default: throw GGUFError(.corrupt, path: path, "\(key) has unknown value type \(type)")
            }
        }

        static func fixedSize(_ type: UInt32) -> Int? {
            switch type {
            case 0, 1, 7: return 1
            case 2, 3: return 2
            case 4, 5, 6: return 4
            case 10, 11, 12: return 8
            default: return nil
            }
        }

        static func minimumSize(_ type: UInt32) -> Int { fixedSize(type) ?? (type == 8 ? 8 : 12) }

        mutating func readFile() throws(GGUFError) -> GGUFFile {
            guard bytes.count >= 4 else {
                throw GGUFError(.notGGUF, path: path, "it is only \(bytes.count) bytes long")
            }
            guard bytes[0] == 0x47, bytes[1] == 0x47, bytes[2] == 0x55, bytes[3] == 0x46 else {
                let shown = bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
                throw GGUFError(.notGGUF, path: path, "its first bytes are \(shown), not the GGUF magic 47 47 55 46")
            }
            position = 4
            version = try read(UInt32.self, "the header")
            guard (1...3).contains(version) else {
                throw GGUFError(.unsupportedVersion, path: path, "version \(version) (gemmactl reads versions 1 to 3)")
            }
            let tensorCount = try readCount("the tensor count", minimumElementSize: 24)
            let metadataCount = try readCount("the metadata count", minimumElementSize: 12)
            var metadata: [(key: String, value: GGUFValue)] = []
            metadata.reserveCapacity(metadataCount)
            for index in 0..<metadataCount {
                let key = try readString("metadata key \(index)")
                let type = try read(UInt32.self, "the type of \(key)")
                metadata.append((key, try readValue(type: type, key: key)))
            }
            var alignment: UInt64 = 32
            if let value = metadata.first(where: { $0.key == "general.alignment" })?.value.intValue {
                guard value > 0, value & (value - 1) == 0, value <= 1 << 20 else {
                    throw GGUFError(.corrupt, path: path, "general.alignment is \(value), not a power of two")
                }
                alignment = UInt64(value)
            }
            var tensors: [GGUFTensorInfo] = []
            tensors.reserveCapacity(tensorCount)
            for index in 0..<tensorCount {
                let name = try readString("tensor info \(index)")
                let dimensionCount = try read(UInt32.self, "the dimensions of tensor \(name)")
                guard dimensionCount <= 8 else {
                    throw GGUFError(.corrupt, path: path, "tensor \(name) claims \(dimensionCount) dimensions")
                }
                var dimensions: [UInt64] = []
                var elements: UInt64 = 1
                for _ in 0..<dimensionCount {
                    let dimension = try read(UInt64.self, "the dimensions of tensor \(name)")
                    let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                    guard !overflow, product < 1 << 48 else {
                        throw GGUFError(.corrupt, path: path, "tensor \(name) has an impossible shape")
                    }
                    elements = product
                    dimensions.append(dimension)
                }
                let type = GGMLType(rawValue: try read(UInt32.self, "the type of tensor \(name)"))
                let offset = try read(UInt64.self, "the offset of tensor \(name)")
                guard offset % alignment == 0 else {
                    throw GGUFError(.corrupt, path: path, "tensor \(name) starts at offset \(offset), not aligned to \(alignment)")
                }
                tensors.append(GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: offset))
            }
            let dataOffset = (UInt64(position) + alignment - 1) / alignment * alignment
            let fileSize = UInt64(bytes.count)
            var dataEnd: UInt64 = 0
            for tensor in tensors {
                guard let size = tensor.byteCount else {
                    if tensor.type.blockGeometry == nil {
                        throw GGUFError(.corrupt, path: path, "tensor \(tensor.name) has unknown type \(tensor.type.rawValue)")
                    }
                    throw GGUFError(.corrupt, path: path, "tensor \(tensor.name)'s shape is not whole blocks of \(tensor.type)")
                }
                let (end, overflow) = (dataOffset + tensor.offset).addingReportingOverflow(size)
                guard !overflow else { throw GGUFError(.corrupt, path: path, "tensor \(tensor.name) lies past any file") }
                dataEnd = max(dataEnd, end)
            }
            guard dataEnd <= fileSize else {
                throw GGUFError(.truncated, path: path,
                                "its tensors need \(dataEnd) bytes but the file has \(fileSize) (\(dataEnd - fileSize) missing)")
            }
            return GGUFFile(path: path, version: version, fileSize: fileSize, metadata: metadata,
                            tensors: tensors, alignment: alignment, dataOffset: dataOffset)
        }
    }
}

extension GGUFFile {
    /// The other shards of a split model (llama.cpp's gguf-split), read from beside this one;
    /// empty for a whole model. The first shard holds the hyper-parameters and llama.cpp opens a
    /// split model by it, finding the rest by name, so this throws for a later shard and for a
    /// missing one, as loading would.
    public func otherShards() throws(GGUFError) -> [GGUFFile] {
        guard let count = self["split.count"]?.intValue, count > 1 else { return [] }
        let index = self["split.no"]?.intValue ?? 0
        guard index == 0 else {
            throw GGUFError(.splitModel, path: path, "this is shard \(index + 1) of \(count), not the first")
        }
        guard let shards = ModelResolver.splitShards(of: path), shards.count == Int(count) else {
            throw GGUFError(.splitModel, path: path,
                            "its name does not end in -00001-of-NNNNN.gguf, so its other \(count - 1) shards cannot be found")
        }
        var files: [GGUFFile] = []
        for shard in shards.dropFirst() {
            do {
                files.append(try GGUFFile(path: shard))
            } catch {
                throw error.code == .notFound ? GGUFError(.splitModel, path: path, "shard \(shard) is missing") : error
            }
        }
        return files
    }
}
