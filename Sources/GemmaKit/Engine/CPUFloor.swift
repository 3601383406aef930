import CLlama
import Foundation

/// What the linked llama.cpp build needs from the CPU, and the start-up check that this CPU has it.
///
/// A portable build (`scripts/build-llama --portable`, as in the image) is compiled for a floor per
/// architecture rather than for the machine that built it: on x86_64 ggml's defaults turn on SSE4.2,
/// AVX, AVX2, FMA, F16C and BMI2, so a CPU (or VM) without them dies with SIGILL inside ggml. gemmactl
/// checks first, before any ggml code runs, and says what is missing. On aarch64 the floor is ARMv8-A
/// (floating point and Advanced SIMD). A native build is for the machine that built it: nothing to check.
///
/// Features are read from the CPU itself (CPUID and XCR0 on x86_64, the kernel's HWCAPs on aarch64),
/// so an emulator's CPU model counts, and are named as /proc/cpuinfo names them.
public struct CPUFloor: Sendable, Equatable {
    /// The features the build needs, in /proc/cpuinfo's names.
    public var required: [String]
    /// How llama.cpp was built: `portable`, `native`, or `unknown` for a build from before the check.
    public var flavour: String

    public init(required: [String], flavour: String) {
        self.required = required
        self.flavour = flavour
    }

    /// The floor of the llama.cpp this binary links (written by scripts/build-llama).
    public static let linked = CPUFloor(
        required: GEMMACTL_LLAMA_CPU_FEATURES.split(separator: " ").map(String.init),
        flavour: GEMMACTL_LLAMA_FLAVOUR)

    /// The required features `available` lacks, in the order the build lists them.
    public func missing(from available: Set<String>) -> [String] {
        required.filter { !available.contains($0) }
    }

    /// Throws `CPUFloorError` when `available` lacks a required feature.
    public func check(available: Set<String>, architecture: String = CPUFeatures.architecture) throws {
        let missing = missing(from: available)
        guard missing.isEmpty else { throw CPUFloorError(missing: missing, floor: self, architecture: architecture) }
    }

    /// Checks this machine's CPU; nothing to do for a native build or an architecture without a reader.
    public func checkThisCPU() throws {
        guard !required.isEmpty, let available = CPUFeatures.current() else { return }
        try check(available: available)
    }
}

/// Which CPU kernels this gemmactl runs: the level its ggml CPU backend was compiled for.
///
/// The image ships one gemmactl per level, each linked with ggml's CPU backend compiled for it
/// (scripts/build-llama --level, scripts/link-levels), and a launcher that picks the best one this CPU
/// can run and sets `GEMMACTL_CPU_LEVEL` (docs/render.md, "CPU levels"). The Swift code is the same in
/// all of them, so the level is read from the linked backend itself: at the pinned llama.cpp its
/// `ggml_cpu_has_*` answers say what it was compiled with, not what the CPU has.
public enum CPULevel {
    /// The variable the launcher sets to the level it chose, and honours when it is set beforehand.
    public static let environmentVariable = "GEMMACTL_CPU_LEVEL"

    /// `native` for a build made on and for its machine, else the level of the linked kernels:
    /// `avx2` or `avx512` (x86_64), `armv8.0`, `dotprod` or `i8mm` (aarch64).
    public static let linked = level(flavour: CPUFloor.linked.flavour, kernels: Kernels(
        avx512: ggml_cpu_has_avx512() != 0 && ggml_cpu_has_avx512_vnni() != 0 && ggml_cpu_has_avx512_bf16() != 0,
        dotprod: ggml_cpu_has_dotprod() != 0, i8mm: ggml_cpu_has_matmul_int8() != 0))

    /// What the linked CPU backend was compiled with, as far as the levels tell apart.
    public struct Kernels: Sendable, Equatable {
        public var avx512 = false, dotprod = false, i8mm = false

        public init(avx512: Bool = false, dotprod: Bool = false, i8mm: Bool = false) {
            self.avx512 = avx512
            self.dotprod = dotprod
            self.i8mm = i8mm
        }
    }

    /// The level name for a build of `flavour` whose CPU backend has `kernels`.
    public static func level(flavour: String, kernels: Kernels, architecture: String = CPUFeatures.architecture) -> String {
        guard flavour == "portable" else { return flavour }
        switch architecture {
        case "x86_64": return kernels.avx512 ? "avx512" : "avx2"
        case "aarch64": return kernels.i8mm ? "i8mm" : kernels.dotprod ? "dotprod" : "armv8.0"
        default: return flavour
        }
    }
}

/// This CPU lacks what the linked llama.cpp build was compiled for.
public struct CPUFloorError: ActionableError {
    public let missing: [String]
    public let floor: CPUFloor
    public let architecture: String

    public var message: String {
        "this \(architecture) CPU lacks \(missing.joined(separator: ", ")), which gemmactl's llama.cpp "
            + "(\(floor.flavour) build) needs: \(floor.required.joined(separator: " "))"
    }

    public var recovery: String? {
        "run it on a CPU with these features (x86_64: Intel Haswell, AMD Zen or later; on a VM, pass the "
            + "host CPU's features through), or build gemmactl on this machine for its CPU: "
            + "scripts/build-llama, then swift build -c release"
    }
}

/// The CPU features this process may use, named as /proc/cpuinfo names them.
public enum CPUFeatures {
    /// The architecture, as `uname -m` says it.
    public static var architecture: String {
        #if arch(x86_64)
        "x86_64"
        #elseif arch(arm64)
        "aarch64"
        #else
        "unknown"
        #endif
    }

    /// Every name `fromX86` and `fromARM` can report: scripts/build-llama may only require these.
    public static let known: Set<String> = Set(x86Bits.map(\.name) + armBits.map(\.name))

    /// This CPU's features, or nil where gemmactl has no reader for the architecture.
    public static func current() -> Set<String>? {
        #if arch(x86_64)
        func cpuid(_ leaf: UInt32, _ subleaf: UInt32 = 0) -> [UInt32] {
            var registers: [UInt32] = [0, 0, 0, 0]
            registers.withUnsafeMutableBufferPointer { gemmactl_cpuid(leaf, subleaf, $0.baseAddress) }
            return registers
        }
        let leaf1 = cpuid(1), leaf7 = cpuid(7), leaf7s1 = cpuid(7, 1)
        let osxsave = leaf1[2] & (1 << 27) != 0
        return fromX86(X86Registers(leaf1ECX: leaf1[2], leaf7EBX: leaf7[1], leaf7ECX: leaf7[2], leaf7EDX: leaf7[3],
                                    leaf7Sub1EAX: leaf7s1[0], xcr0: osxsave ? gemmactl_xgetbv0() : 0))
        #elseif arch(arm64) && os(Linux)
        return fromARM(hwcap: UInt64(gemmactl_hwcap()), hwcap2: UInt64(gemmactl_hwcap2()))
        #else
        return nil
        #endif
    }

    /// The CPUID registers and XCR0 value the x86_64 features come from.
    public struct X86Registers: Sendable {
        public var leaf1ECX: UInt32
        public var leaf7EBX: UInt32
        public var leaf7ECX: UInt32
        public var leaf7EDX: UInt32
        public var leaf7Sub1EAX: UInt32
        public var xcr0: UInt64

        public init(leaf1ECX: UInt32 = 0, leaf7EBX: UInt32 = 0, leaf7ECX: UInt32 = 0, leaf7EDX: UInt32 = 0,
                    leaf7Sub1EAX: UInt32 = 0, xcr0: UInt64 = 0) {
            self.leaf1ECX = leaf1ECX
            self.leaf7EBX = leaf7EBX
            self.leaf7ECX = leaf7ECX
            self.leaf7EDX = leaf7EDX
            self.leaf7Sub1EAX = leaf7Sub1EAX
            self.xcr0 = xcr0
        }

        func value(_ register: X86Register) -> UInt32 {
            switch register {
            case .leaf1ECX: leaf1ECX
            case .leaf7EBX: leaf7EBX
            case .leaf7ECX: leaf7ECX
            case .leaf7EDX: leaf7EDX
            case .leaf7Sub1EAX: leaf7Sub1EAX
            }
        }
    }

    /// Which register states a feature needs the OS to save (XCR0), beyond the CPU having it.
    enum X86State: Sendable { case none, avx, avx512, amx }
    enum X86Register: Sendable { case leaf1ECX, leaf7EBX, leaf7ECX, leaf7EDX, leaf7Sub1EAX }
    struct X86Bit: Sendable {
        let name: String
        let register: X86Register
        let bit: UInt32
        let state: X86State
    }

    static let x86Bits: [X86Bit] = [
        X86Bit(name: "sse4_2", register: .leaf1ECX, bit: 20, state: .none),
        X86Bit(name: "fma", register: .leaf1ECX, bit: 12, state: .avx),
        X86Bit(name: "avx", register: .leaf1ECX, bit: 28, state: .avx),
        X86Bit(name: "f16c", register: .leaf1ECX, bit: 29, state: .avx),
        X86Bit(name: "avx2", register: .leaf7EBX, bit: 5, state: .avx),
        X86Bit(name: "bmi2", register: .leaf7EBX, bit: 8, state: .none),
        X86Bit(name: "avx512f", register: .leaf7EBX, bit: 16, state: .avx512),
        X86Bit(name: "avx512vbmi", register: .leaf7ECX, bit: 1, state: .avx512),
        X86Bit(name: "avx512_vnni", register: .leaf7ECX, bit: 11, state: .avx512),
        X86Bit(name: "amx_bf16", register: .leaf7EDX, bit: 22, state: .amx),
        X86Bit(name: "amx_tile", register: .leaf7EDX, bit: 24, state: .amx),
        X86Bit(name: "amx_int8", register: .leaf7EDX, bit: 25, state: .amx),
        X86Bit(name: "avx_vnni", register: .leaf7Sub1EAX, bit: 4, state: .avx),
        X86Bit(name: "avx512_bf16", register: .leaf7Sub1EAX, bit: 5, state: .avx512),
    ]

    /// The x86_64 features the registers report. A vector extension counts only when the OS saves its
    /// registers (XCR0: SSE and AVX state for AVX, plus the opmask and ZMM state for AVX-512, the tile
    /// state for AMX), as /proc/cpuinfo leaves it out otherwise.
    public static func fromX86(_ registers: X86Registers) -> Set<String> {
        let avxState = registers.xcr0 & 0x6 == 0x6
        let avx512State = registers.xcr0 & 0xE6 == 0xE6
        let amxState = registers.xcr0 & 0x60000 == 0x60000
        return Set(x86Bits.filter { feature in
            guard registers.value(feature.register) & (1 << feature.bit) != 0 else { return false }
            switch feature.state {
            case .none: return true
            case .avx: return avxState
            case .avx512: return avx512State
            case .amx: return amxState
            }
        }.map(\.name))
    }

    /// (name, HWCAP word, bit) as the Linux kernel's asm/hwcap.h numbers them.
    static let armBits: [(name: String, word: Int, bit: UInt64)] = [
        ("fp", 1, 0), ("asimd", 1, 1), ("asimdhp", 1, 10), ("asimddp", 1, 20), ("sve", 1, 22), ("i8mm", 2, 13),
    ]

    /// The aarch64 features the kernel's AT_HWCAP and AT_HWCAP2 words report.
    public static func fromARM(hwcap: UInt64, hwcap2: UInt64) -> Set<String> {
        Set(armBits.filter { ($0.word == 1 ? hwcap : hwcap2) & (1 << $0.bit) != 0 }.map(\.name))
    }
}
