import Testing
@testable import GemmaKit

@Suite struct TextStreamingTests {
    @Test func utf8CharacterSplitAcrossPiecesIsHeldBack() {
        var decoder = UTF8StreamDecoder()
        let rocket = Array("🚀".utf8)  // 4 bytes
        #expect(decoder.append([0x41] + rocket.prefix(1)) == "A")
        #expect(decoder.append(Array(rocket[1..<3])) == "")
        #expect(decoder.append(Array(rocket[3...]) + Array("é".utf8)) == "🚀é")
        #expect(decoder.finish() == "")
    }

    @Test func unfinishedCharacterAtTheEndBecomesReplacement() {
        var decoder = UTF8StreamDecoder()
        #expect(decoder.append([0x61, 0xE4, 0xB8]) == "a")
        #expect(decoder.finish() == "\u{FFFD}")
    }

    @Test func stopStringIsNeverEmitted() {
        var matcher = StopStringMatcher(["</end>"])
        #expect(matcher.feed("Hello </") == .text("Hello "))
        #expect(matcher.feed("en") == .text(""))
        #expect(matcher.feed("d> tail") == .stopped(""))
    }

    @Test func falseStartOfAStopStringIsReleased() {
        var matcher = StopStringMatcher(["STOP"])
        #expect(matcher.feed("ST") == .text(""))
        #expect(matcher.feed("AR") == .text("STAR"))
        #expect(matcher.feed("S") == .text(""))
        #expect(matcher.flush() == "S")
    }

    @Test func earliestOfSeveralStopsWins() {
        var matcher = StopStringMatcher(["bb", "a"])
        #expect(matcher.feed("xxbbya") == .stopped("xx"))
    }
}
