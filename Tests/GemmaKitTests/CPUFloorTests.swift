import Foundation
import GemmaKit
import Testing

@Suite("CPU floor")
struct CPUFloorTests {
    typealias Registers = CPUFeatures.X86Registers

    /// What a Haswell reports: SSE4.2, FMA, OSXSAVE, AVX, F16C in leaf 1; AVX2 and BMI2 in leaf 7.
    static let haswell = Registers(leaf1ECX: 1 << 20 | 1 << 12 | 1 << 27 | 1 << 28 | 1 << 29,
                                   leaf7EBX: 1 << 5 | 1 << 8, xcr0: 0x7)
    /// The floor a portable x86_64 build records (scripts/build-llama, from ggml's defaults).
    static let portableX86 = CPUFloor(required: ["sse4_2", "avx", "avx2", "bmi2", "fma", "f16c"], flavour: "portable")

    @Test func x86FeaturesComeFromCPUIDBits() {
        #expect(CPUFeatures.fromX86(Self.haswell) == ["sse4_2", "fma", "avx", "f16c", "avx2", "bmi2"])
        var skylakeServer = Self.haswell
        skylakeServer.leaf7EBX |= 1 << 16
        skylakeServer.leaf7ECX = 1 << 11
        skylakeServer.xcr0 = 0xE7
        #expect(CPUFeatures.fromX86(skylakeServer).isSuperset(of: ["avx512f", "avx512_vnni", "avx2"]))
    }

    @Test func vectorFeaturesNeedTheOSToSaveTheirRegisters() {
        var noAVXState = Self.haswell
        noAVXState.xcr0 = 0x3
        #expect(CPUFeatures.fromX86(noAVXState) == ["sse4_2", "bmi2"])
        var noZMMState = Self.haswell
        noZMMState.leaf7EBX |= 1 << 16
        #expect(!CPUFeatures.fromX86(noZMMState).contains("avx512f"))
    }

    @Test func armFeaturesComeFromHWCAPWords() {
        #expect(CPUFeatures.fromARM(hwcap: 0b11, hwcap2: 0) == ["fp", "asimd"])
        // Neoverse-N1: dotprod and half-precision, no i8mm; i8mm sits in HWCAP2.
        #expect(CPUFeatures.fromARM(hwcap: 0b11 | 1 << 10 | 1 << 20, hwcap2: 0) == ["fp", "asimd", "asimdhp", "asimddp"])
        #expect(CPUFeatures.fromARM(hwcap: 0b11, hwcap2: 1 << 13).contains("i8mm"))
    }

    @Test func aCPUBelowTheFloorIsRefusedNamingWhatItLacks() throws {
        let nehalem = CPUFeatures.fromX86(Registers(leaf1ECX: 1 << 20))
        let error = try #require(throws: CPUFloorError.self) {
            try Self.portableX86.check(available: nehalem, architecture: "x86_64")
        }
        #expect(error.missing == ["avx", "avx2", "bmi2", "fma", "f16c"])
        #expect(error.message == "this x86_64 CPU lacks avx, avx2, bmi2, fma, f16c, which gemmactl's llama.cpp "
            + "(portable build) needs: sse4_2 avx avx2 bmi2 fma f16c")
        #expect(error.recovery?.contains("scripts/build-llama") == true)
        #expect(error.exitCode == 1)
    }

    @Test func aCPUAtTheFloorPasses() throws {
        try Self.portableX86.check(available: CPUFeatures.fromX86(Self.haswell), architecture: "x86_64")
        try CPUFloor(required: ["fp", "asimd"], flavour: "portable")
            .check(available: CPUFeatures.fromARM(hwcap: 0b11, hwcap2: 0), architecture: "aarch64")
        // A native build records no floor: it was built for the machine it runs on.
        try CPUFloor(required: [], flavour: "native").check(available: [])
    }

    /// scripts/build-llama may only require features the check can read.
    @Test func everyFeatureTheBuildScriptRecordsIsKnown() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/build-llama")
        let text = try String(contentsOf: script, encoding: .utf8)
        var names = text.matches(of: /[A-Z][A-Z0-9_]*:([a-z][a-z0-9_]*)/).map { String($0.output.1) }
        for match in text.matches(of: /features=" ([a-z0-9_ ]+)"/) {
            names += match.output.1.split(separator: " ").map(String.init)
        }
        #expect(names.count >= 16)
        #expect(Set(names).subtracting(CPUFeatures.known).isEmpty, "unknown: \(Set(names).subtracting(CPUFeatures.known))")
    }

    /// The CPUID reading agrees with the kernel's /proc/cpuinfo for every feature both name.
    @Test func thisCPUsFeaturesMatchProcCPUInfo() throws {
        #if arch(x86_64) && os(Linux)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flagsLine = try #require(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        let kernel = Set(flagsLine.split(separator: ":")[1].split(separator: " ").map(String.init))
        let read = try #require(CPUFeatures.current())
        #expect(read.contains("sse4_2"))
        #expect(read == kernel.intersection(CPUFeatures.known))
        #endif
    }

    @Test func theCPULevelIsTheLinkedKernelsOfAPortableBuildAndNativeOtherwise() {
        typealias K = CPULevel.Kernels
        #expect(CPULevel.level(flavour: "native", kernels: K(avx512: true), architecture: "x86_64") == "native")
        #expect(CPULevel.level(flavour: "portable", kernels: K(), architecture: "x86_64") == "avx2")
        #expect(CPULevel.level(flavour: "portable", kernels: K(avx512: true), architecture: "x86_64") == "avx512")
        #expect(CPULevel.level(flavour: "portable", kernels: K(), architecture: "aarch64") == "armv8.0")
        #expect(CPULevel.level(flavour: "portable", kernels: K(dotprod: true), architecture: "aarch64") == "dotprod")
        #expect(CPULevel.level(flavour: "portable", kernels: K(dotprod: true, i8mm: true), architecture: "aarch64") == "i8mm")
    }

    /// The level names gemmactl reports are the ones scripts/build-llama builds and the launcher picks from.
    @Test func theBuildScriptTheLauncherAndGemmactlNameTheSameLevels() throws {
        let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts")
        let build = try String(contentsOf: scripts.appendingPathComponent("build-llama"), encoding: .utf8)
        let launcher = try String(contentsOf: scripts.appendingPathComponent("gemmactl-launcher.c"), encoding: .utf8)
        let built = build.matches(of: /(x86_64|aarch64)\) levels=\(([a-z0-9. ]+)\)/)
            .flatMap { match in match.output.2.split(separator: " ").map { "\(match.output.1)/\($0)" } }
        let launched = launcher.matches(of: /\{"([a-z0-9.]+)", has_/).map { String($0.output.1) }
        #expect(built.sorted() == ["aarch64/armv8.0", "aarch64/dotprod", "aarch64/i8mm", "x86_64/avx2", "x86_64/avx512"])
        #expect(Set(launched) == Set(built.map { String($0.split(separator: "/")[1]) }))
        for entry in built {
            let parts = entry.split(separator: "/").map(String.init)
            let kernels = CPULevel.Kernels(avx512: parts[1] == "avx512", dotprod: parts[1] != "armv8.0", i8mm: parts[1] == "i8mm")
            #expect(CPULevel.level(flavour: "portable", kernels: kernels, architecture: parts[0]) == parts[1])
        }
    }
}
