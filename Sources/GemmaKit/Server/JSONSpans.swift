import Foundation

/// Where values lie in JSON text, found without decoding them, so that the client's own text of a
/// value (its object keys in its order) can be passed on where order is meaning: tools rendered by
/// a chat template list a schema's properties in the order they come, as llama-server keeps them.
enum JSONSpans {
    /// The text of member `key` of the top-level object in `data`; nil when there is none or the
    /// text is not an object.
    static func member(_ key: String, in data: Data) -> Data? {
        let bytes = [UInt8](data)
        var index = skipSpace(bytes, 0)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index = skipSpace(bytes, index + 1)
        while index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
            guard let keyEnd = end(bytes, index) else { return nil }
            let name = try? JSONDecoder().decode(String.self, from: Data(bytes[index..<keyEnd]))
            index = skipSpace(bytes, keyEnd)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            let start = skipSpace(bytes, index + 1)
            guard let valueEnd = end(bytes, start) else { return nil }
            if name == key { return Data(bytes[start..<valueEnd]) }
            index = skipSpace(bytes, valueEnd)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ",") else { return nil }
            index = skipSpace(bytes, index + 1)
        }
        return nil
    }

    /// The text of the value at `path` (object members by name, array elements by index) in `data`;
    /// nil when there is none.
    static func value(at path: [any CodingKey], in data: Data) -> Data? {
        var text = data
        for key in path {
            if let index = key.intValue {
                guard let elements = elements(text), elements.indices.contains(index) else { return nil }
                text = elements[index]
            } else {
                guard let member = member(key.stringValue, in: text) else { return nil }
                text = member
            }
        }
        return text
    }

    /// The texts of the elements of the array in `data`; nil when it is not an array.
    static func elements(_ data: Data) -> [Data]? {
        let bytes = [UInt8](data)
        var index = skipSpace(bytes, 0)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { return nil }
        index = skipSpace(bytes, index + 1)
        var elements: [Data] = []
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { return elements }
        while index < bytes.count {
            guard let valueEnd = end(bytes, index) else { return nil }
            elements.append(Data(bytes[index..<valueEnd]))
            index = skipSpace(bytes, valueEnd)
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "]") { return elements }
            guard bytes[index] == UInt8(ascii: ",") else { return nil }
            index = skipSpace(bytes, index + 1)
        }
        return nil
    }

    private static func skipSpace(_ bytes: [UInt8], _ start: Int) -> Int {
        var index = start
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        return index
    }

    /// The index just past the value that starts at `start`; nil when it does not end.
    private static func end(_ bytes: [UInt8], _ start: Int) -> Int? {
        guard start < bytes.count else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            var index = start + 1
            while index < bytes.count {
                if bytes[index] == UInt8(ascii: "\\") { index += 2; continue }
                if bytes[index] == UInt8(ascii: "\"") { return index + 1 }
                index += 1
            }
            return nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0, index = start
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    guard let stringEnd = end(bytes, index) else { return nil }
                    index = stringEnd
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return index + 1 }
                default: break
                }
                index += 1
            }
            return nil
        default:
            var index = start
            while index < bytes.count, !Array(",}] \t\n\r".utf8).contains(bytes[index]) { index += 1 }
            return index > start ? index : nil
        }
    }
}
