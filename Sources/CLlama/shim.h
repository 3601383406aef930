#pragma once
#include <llama.h>
#include <ggml-cpu.h>

// What the linked llama.cpp build needs from the CPU: GEMMACTL_LLAMA_FLAVOUR and
// GEMMACTL_LLAMA_CPU_FEATURES, written by scripts/build-llama next to llama.h (CPUFloor.swift).
#if __has_include(<gemmactl-llama-build.h>)
#include <gemmactl-llama-build.h>
#else
#define GEMMACTL_LLAMA_FLAVOUR "unknown"
#define GEMMACTL_LLAMA_CPU_FEATURES ""
#endif

#if defined(__x86_64__)
#include <cpuid.h>
// CPUID and XGETBV for the start-up CPU check, which must not call into ggml (compiled for the floor
// it checks). Reads the CPU (or the emulator's model of one) itself, unlike /proc/cpuinfo.
static inline void gemmactl_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int registers[4]) {
    registers[0] = registers[1] = registers[2] = registers[3] = 0;
    if (leaf > __get_cpuid_max(leaf & 0x80000000u, 0)) return;
    __cpuid_count(leaf, subleaf, registers[0], registers[1], registers[2], registers[3]);
}
// XCR0: which register states the OS saves (AVX needs bits 1-2, AVX-512 bits 5-7). Only valid
// when CPUID says OSXSAVE.
static inline unsigned long long gemmactl_xgetbv0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
// The kernel's HWCAP words for the start-up CPU check (Swift's Glibc module has no getauxval).
static inline unsigned long gemmactl_hwcap(void) { return getauxval(AT_HWCAP); }
static inline unsigned long gemmactl_hwcap2(void) { return getauxval(AT_HWCAP2); }
#endif

#if defined(__linux__)
// The linker's --wrap=ggml_backend_init_by_type (Package.swift) sends llama.cpp's call for its
// CPU backend to gemmactl's __wrap_ function, which calls this original; see LlamaBackend.swift.
ggml_backend_t __real_ggml_backend_init_by_type(enum ggml_backend_dev_type type, const char * params);

// --wrap=llamafile_sgemm sends ggml's matrix multiplications to gemmactl's __wrap_ function first, which
// declines (false: ggml's own kernels) for a backend switched to reference kernels, else calls this
// original (ggml-cpu/llamafile/sgemm.h).
struct ggml_compute_params;
bool __real_llamafile_sgemm(const struct ggml_compute_params * params, int64_t m, int64_t n, int64_t k,
                            const void * a, int64_t lda, const void * b, int64_t ldb, void * c, int64_t ldc,
                            int Atype, int Btype, int Ctype);

// The leading fields of ggml's struct ggml_compute_params (ggml-cpu-impl.h, not installed) at the pinned
// llama.cpp commit; EngineTests' batch-invariance tests fail if they move.
struct gemmactl_compute_params_head {
    int ith, nth;
    size_t wsize;
    void * wdata;
    void * threadpool;
    bool use_ref;
};

static inline bool gemmactl_compute_params_use_ref(const struct ggml_compute_params * params) {
    return ((const struct gemmactl_compute_params_head *) (const void *) params)->use_ref;
}
#endif
