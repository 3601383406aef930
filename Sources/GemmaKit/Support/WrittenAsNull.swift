import Foundation

/// A member written as `null` while it has no value, where the API's clients expect the key
/// (OpenAI's `finish_reason` before the last chunk, every `/slots` field `gemmactl slots --json`
/// prints); a plain optional member is left out instead.
@propertyWrapper
public struct WrittenAsNull<Value: Encodable>: Encodable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension WrittenAsNull: Sendable where Value: Sendable {}
extension WrittenAsNull: Equatable where Value: Equatable {}
