import Foundation
import Testing
@testable import GemmaKit

@Suite struct TextChunkTemplateTests {
    static let texts: [String] = {
        var texts = ["", "Hello", " world", "a\"quote\"", "back\\slash", "a/b", "line\nbreak", "tab\tand\r",
                     "é", "日本語", "🚀 launch", "\u{7F}del", "\u{2028}\u{2029}", "\u{FFFD}", "{\"json\":[1,2]}"]
        // Every ASCII character alone, control characters above all.
        texts += (0..<128).map { String(UnicodeScalar(UInt8($0))) }
        return texts
    }()

    @Test func chatChunkMatchesTheEncoderForEveryText() {
        let template = TextChunkTemplate { ChatChunk(ResponseIdentity(id: "chatcmpl-1", created: 1_700_000_000, model: "gemma-3"), choices: [.init(delta: .init(content: $0))]) }
        for text in Self.texts {
            let expected = JSONBody.string(ChatChunk(ResponseIdentity(id: "chatcmpl-1", created: 1_700_000_000, model: "gemma-3"),
                                                     choices: [.init(delta: .init(content: text))]))
            #expect(template.json(text) == expected, "text \(Array(text.unicodeScalars.map(\.value)))")
        }
    }

    @Test func completionChunkMatchesTheEncoderEvenWhenTheModelNameNeedsEscaping() {
        let model = "models/gemma \"3\"\n"
        let template = TextChunkTemplate { TextCompletion(ResponseIdentity(id: "cmpl-1", created: 5, model: model), choices: [.init(text: $0)]) }
        for text in Self.texts {
            let expected = JSONBody.string(TextCompletion(ResponseIdentity(id: "cmpl-1", created: 5, model: model), choices: [.init(text: text)]))
            #expect(template.json(text) == expected)
        }
    }

    @Test func chunkParsesBackToTheSameText() throws {
        let template = TextChunkTemplate { ChatChunk(ResponseIdentity(id: "x", created: 0, model: "m"), choices: [.init(delta: .init(content: $0))]) }
        for text in Self.texts {
            let object = try JSONSerialization.jsonObject(with: Data(template.json(text).utf8)) as? [String: Any]
            let choices = object?["choices"] as? [[String: Any]]
            let delta = choices?.first?["delta"] as? [String: Any]
            #expect(delta?["content"] as? String == text)
        }
    }
}
