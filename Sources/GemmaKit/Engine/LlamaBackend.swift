import CLlama
import Foundation
import Logging
import Synchronization

/// The process-wide llama.cpp backend: initialised once, on first use, and never torn down by an
/// object's deinit (it outlives every model and context).
///
/// llama.cpp's own log lines go to swift-log under the label `llama.cpp` at `debug` level, except
/// errors and warnings; the last error line is kept so load failures can say what llama.cpp saw.
public enum LlamaBackend {
    private static let initialized: Void = {
        llama_log_set(llamaLogCallback, nil)
        llama_backend_init()
    }()

    /// Initialises the backend if it is not yet.
    public static func initialize() { _ = initialized }

    /// Whether this build can switch llama.cpp's CPU backend to its reference kernels (Linux:
    /// the link-time hook in Package.swift). Elsewhere `ContextOptions.batchInvariant` is ignored.
    public static var canUseReferenceKernels: Bool {
        #if os(Linux)
        true
        #else
        false
        #endif
    }

    /// Serialises context creation so each new context's CPU backend gets its own setting.
    private static let creation = Mutex<Void>(())
    /// What the next CPU backend llama.cpp creates should use; read by the link-time hook.
    fileprivate static let nextBackendUsesReferenceKernels = Atomic<Bool>(false)

    /// CPU backends switched to the reference kernels so far: stays 0 when the program was linked
    /// without the `--wrap` hook, which the tests check.
    static var referenceKernelBackends: Int { referenceKernelBackendCount.load(ordering: .sequentiallyConsistent) }
    fileprivate static let referenceKernelBackendCount = Atomic<Int>(0)

    /// Runs `create` (a llama.cpp context creation) so that the CPU backend it makes computes with
    /// the reference kernels when `referenceKernels` is true.
    ///
    /// ggml's optimised CPU kernels pick a different algorithm by batch shape (tiled K-quant matrix
    /// products from 8 rows, tiled flash attention from 64 query rows, a split over threads for a
    /// single query row), so a token's logits depend on what else shares its batch and greedy output
    /// changes with concurrency. The reference kernels compute every row the same way.
    static func creatingContext<T>(referenceKernels: Bool, _ create: () -> T) -> T {
        initialize()
        return creation.withLock { _ in
            nextBackendUsesReferenceKernels.store(referenceKernels, ordering: .sequentiallyConsistent)
            defer { nextBackendUsesReferenceKernels.store(false, ordering: .sequentiallyConsistent) }
            return create()
        }
    }

    /// The llama.cpp version string this binary was built with (commit and build number).
    public static var systemInfo: String { String(cString: llama_print_system_info()) }

    static let logger = Logger(label: "llama.cpp")
    static let errorLines = Mutex<[String]>([])
    static let pendingLine = Mutex<String>("")

    /// Forgets earlier error lines, so a following failure reports only its own.
    static func clearLastError() { errorLines.withLock { $0 = [] } }

    /// The error lines llama.cpp logged since `clearLastError`, joined, most telling first.
    static func takeLastError() -> String? {
        let lines = errorLines.withLock { lines in defer { lines = [] }; return lines }
        guard !lines.isEmpty else { return nil }
        // The first line usually says why; later ones repeat that loading failed.
        return lines.count == 1 ? lines[0] : lines.prefix(3).joined(separator: "; ")
    }
}

private func llamaLogCallback(level: ggml_log_level, text: UnsafePointer<CChar>?, _: UnsafeMutableRawPointer?) {
    guard let text else { return }
    let chunk = String(cString: text)
    // llama.cpp may split one line over several calls (GGML_LOG_LEVEL_CONT); join them.
    let line: String? = LlamaBackend.pendingLine.withLock { pending in
        pending += chunk
        guard pending.hasSuffix("\n") else { return nil }
        defer { pending = "" }
        return pending.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    guard let line, !line.isEmpty else { return }
    switch level {
    case GGML_LOG_LEVEL_ERROR:
        LlamaBackend.errorLines.withLock { lines in
            if lines.count < 20 { lines.append(line) }
        }
        LlamaBackend.logger.debug("\(line)")
    case GGML_LOG_LEVEL_WARN:
        LlamaBackend.logger.debug("\(line)")
    default:
        LlamaBackend.logger.trace("\(line)")
    }
}

#if os(Linux)
/// llama.cpp creates its CPU backend through `ggml_backend_init_by_type`; the linker flag
/// `--wrap=ggml_backend_init_by_type` (Package.swift) routes that call here, the only place the
/// backend object is reachable before the context uses it.
@_cdecl("__wrap_ggml_backend_init_by_type")
func wrappedBackendInitByType(_ type: ggml_backend_dev_type, _ params: UnsafePointer<CChar>?) -> ggml_backend_t? {
    let backend = __real_ggml_backend_init_by_type(type, params)
    if let backend, type == GGML_BACKEND_DEVICE_TYPE_CPU,
       LlamaBackend.nextBackendUsesReferenceKernels.load(ordering: .sequentiallyConsistent) {
        ggml_backend_cpu_set_use_ref(backend, true)
        LlamaBackend.referenceKernelBackendCount.add(1, ordering: .sequentiallyConsistent)
    }
    return backend
}

/// llamafile's tinyBLAS kernels (on in llama.cpp's default build, and fast for prompts) compute a row
/// differently when other rows share the batch. `--wrap=llamafile_sgemm` (Package.swift) routes ggml's
/// call here: a backend switched to reference kernels declines them, so ggml's own per-row kernels run.
@_cdecl("__wrap_llamafile_sgemm")
func wrappedLlamafileSgemm(_ params: OpaquePointer?, _ m: Int64, _ n: Int64, _ k: Int64,
                           _ a: UnsafeRawPointer?, _ lda: Int64, _ b: UnsafeRawPointer?, _ ldb: Int64,
                           _ c: UnsafeMutableRawPointer?, _ ldc: Int64,
                           _ aType: Int32, _ bType: Int32, _ cType: Int32) -> Bool {
    if let params, gemmactl_compute_params_use_ref(params) { return false }
    return __real_llamafile_sgemm(params, m, n, k, a, lda, b, ldb, c, ldc, aType, bType, cType)
}
#endif
