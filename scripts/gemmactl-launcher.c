// The image's /opt/gemmactl/gemmactl: picks the gemmactl build whose CPU kernels suit this CPU best
// and runs it in its place.
//
// The image ships one gemmactl per CPU level, gemmactl-LEVEL next to this launcher, each linked
// against ggml's CPU backend compiled for that level (scripts/build-llama --level, scripts/link-levels);
// everything else in them is the same. The launcher reads the CPU's features itself (CPUID and XCR0
// on x86_64, the kernel's AT_HWCAP/AT_HWCAP2 on aarch64), takes the highest level the CPU has and
// whose build is present, sets GEMMACTL_CPU_LEVEL to its name (gemmactl reports it in its log,
// /props and doctor) and execs it with the same arguments.
//
// GEMMACTL_CPU_LEVEL=LEVEL set beforehand picks that level instead, e.g. the floor on a CPU that
// could run more; one the CPU lacks is refused (it would die with SIGILL). With no level the CPU has,
// the floor runs anyway: its own start-up check says what the CPU lacks.
//
// The i8mm level is passed over for `serve --deterministic` (or GEMMA_DETERMINISTIC): ggml's two-row
// i8mm kernels give a token different logits alone and batched (docs/arm64.md), which that mode rules out.
//
// Plain C with no dependencies, built with `cc -O2 -o gemmactl scripts/gemmactl-launcher.c`.
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

/// A level: its name (the suffix of its build) and whether this CPU can run its kernels.
struct level {
    const char *name;
    bool (*supported)(void);
    /// Its kernels are batch invariant under --deterministic.
    bool deterministic;
};

#if defined(__x86_64__)
static unsigned int cpuid_reg(unsigned int leaf, unsigned int subleaf, int reg) {
    unsigned int r[4] = {0, 0, 0, 0};
    if (leaf > __get_cpuid_max(leaf & 0x80000000u, 0)) return 0;
    __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
    return r[reg];
}
enum { EAX, EBX, ECX, EDX };
#define BIT(n) (1u << (n))

// XCR0: which register states the OS saves; only readable when CPUID says OSXSAVE.
static unsigned long long xcr0(void) {
    if (!(cpuid_reg(1, 0, ECX) & BIT(27))) return 0;
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

// The floor: what a portable build turns on (ggml's INS_ENB options), AVX state saved by the OS.
static bool has_avx2(void) {
    unsigned int ecx1 = cpuid_reg(1, 0, ECX), ebx7 = cpuid_reg(7, 0, EBX);
    bool cpu = (ecx1 & BIT(20)) && (ecx1 & BIT(28)) && (ecx1 & BIT(12)) && (ecx1 & BIT(29))  // SSE4.2 AVX FMA F16C
               && (ebx7 & BIT(5)) && (ebx7 & BIT(8));                                        // AVX2 BMI2
    return cpu && (xcr0() & 0x6) == 0x6;
}

// The floor plus what GGML_AVX512 (-mavx512f/cd/vl/dq/bw), GGML_AVX512_VNNI and GGML_AVX512_BF16
// compile for (Zen 4 and later, Cooper Lake, Sapphire Rapids), opmask and ZMM state saved by the OS.
static bool has_avx512(void) {
    unsigned int ebx7 = cpuid_reg(7, 0, EBX), ecx7 = cpuid_reg(7, 0, ECX), eax71 = cpuid_reg(7, 1, EAX);
    bool cpu = (ebx7 & BIT(16)) && (ebx7 & BIT(17)) && (ebx7 & BIT(28)) && (ebx7 & BIT(30)) && (ebx7 & BIT(31))  // F DQ CD BW VL
               && (ecx7 & BIT(11)) && (eax71 & BIT(5));                                                        // VNNI BF16
    return cpu && has_avx2() && (xcr0() & 0xE6) == 0xE6;
}

// Best first.
static const struct level levels[] = {
    {"avx512", has_avx512, true},
    {"avx2", has_avx2, true},
};
#elif defined(__aarch64__)
// asm/hwcap.h's bits, spelled out so an older libc's headers do not matter.
#define HWCAP_FP_ (1ul << 0)
#define HWCAP_ASIMD_ (1ul << 1)
#define HWCAP_FPHP_ (1ul << 9)
#define HWCAP_ASIMDHP_ (1ul << 10)
#define HWCAP_ASIMDDP_ (1ul << 20)
#define HWCAP2_I8MM_ (1ul << 13)
#define HWCAP2_BF16_ (1ul << 14)

static bool has_armv8(void) {
    unsigned long hw = getauxval(AT_HWCAP);
    return (hw & HWCAP_FP_) && (hw & HWCAP_ASIMD_);
}
// -march=armv8.2-a+dotprod+fp16: dot product and half-precision arithmetic (Neoverse-N1, Cortex-A55/A76).
static bool has_dotprod(void) {
    unsigned long hw = getauxval(AT_HWCAP);
    return has_armv8() && (hw & HWCAP_ASIMDDP_) && (hw & HWCAP_FPHP_) && (hw & HWCAP_ASIMDHP_);
}
// -march=armv8.6-a+dotprod+fp16+i8mm: ARMv8.6 makes BF16 part of it, so both (Neoverse-V1/N2, Graviton 3).
static bool has_i8mm(void) {
    unsigned long hw2 = getauxval(AT_HWCAP2);
    return has_dotprod() && (hw2 & HWCAP2_I8MM_) && (hw2 & HWCAP2_BF16_);
}

static const struct level levels[] = {
    {"i8mm", has_i8mm, false},
    {"dotprod", has_dotprod, true},
    {"armv8.0", has_armv8, true},
};
#else
#error "gemmactl's launcher knows the CPU levels of x86_64 and aarch64 only"
#endif

#define LEVEL_COUNT (sizeof levels / sizeof levels[0])
static const char *const level_variable = "GEMMACTL_CPU_LEVEL";

static void fail(const char *message, const char *detail) {
    fprintf(stderr, "error: %s%s\n", message, detail ? detail : "");
    exit(1);
}

static const char *level_names(void) {
    static char names[128];
    names[0] = '\0';
    for (size_t i = LEVEL_COUNT; i-- > 0;) {
        strncat(names, levels[i].name, sizeof names - strlen(names) - 1);
        if (i > 0) strncat(names, ", ", sizeof names - strlen(names) - 1);
    }
    return names;
}

// `serve --deterministic` on the command line or GEMMA_DETERMINISTIC set true, as gemmactl reads them.
static bool deterministic(int argc, char **argv) {
    const char *value = getenv("GEMMA_DETERMINISTIC");
    if (value && (!strcasecmp(value, "1") || !strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcasecmp(value, "on") ||
                  !strcasecmp(value, "enabled")))
        return true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--deterministic")) return true;
    }
    return false;
}

// DIR/gemmactl-LEVEL into path (PATH_MAX bytes).
static void build_path(char *path, const char *dir, const char *name) {
    int n = snprintf(path, PATH_MAX, "%s/gemmactl-%s", dir, name);
    if (n < 0 || n >= PATH_MAX) fail("gemmactl's launcher sits in a folder whose path is too long: ", dir);
}

int main(int argc, char **argv) {
    // The builds sit next to the launcher (its real path: /usr/local/bin/gemmactl is a link to it).
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length <= 0) fail("gemmactl's launcher cannot find its own path in /proc/self/exe: ", strerror(errno));
    self[length] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) fail("gemmactl's launcher has no folder in its path ", self);
    *slash = '\0';

    char path[PATH_MAX];
    const struct level *chosen = NULL;
    const char *forced = getenv(level_variable);
    if (forced && *forced) {
        for (size_t i = 0; i < LEVEL_COUNT; i++)
            if (!strcmp(levels[i].name, forced)) chosen = &levels[i];
        if (!chosen) {
            fprintf(stderr, "error: %s=%s is not a CPU level of this image: use one of %s, or unset it to pick the best\n",
                    level_variable, forced, level_names());
            return 1;
        }
        if (chosen != &levels[LEVEL_COUNT - 1] && !chosen->supported()) {
            fprintf(stderr, "error: %s=%s asks for kernels this CPU cannot run: unset it to pick the best this CPU has\n",
                    level_variable, forced);
            return 1;
        }
        build_path(path, self, chosen->name);
        if (access(path, X_OK) != 0) {
            fprintf(stderr, "error: %s=%s, but this image has no %s: use one of %s\n", level_variable, forced, path, level_names());
            return 1;
        }
    } else {
        bool needs_invariant = deterministic(argc, argv);
        for (size_t i = 0; i < LEVEL_COUNT && !chosen; i++) {
            bool last = i == LEVEL_COUNT - 1;
            // The floor runs even on a CPU below it, so that its start-up check names what is missing.
            if (!last && (!levels[i].supported() || (needs_invariant && !levels[i].deterministic))) continue;
            build_path(path, self, levels[i].name);
            if (access(path, X_OK) == 0) chosen = &levels[i];
        }
        if (!chosen) {
            fprintf(stderr, "error: no gemmactl build next to the launcher in %s (gemmactl-LEVEL for a level among %s): "
                    "install them with scripts/link-levels\n", self, level_names());
            return 1;
        }
    }
    if (setenv(level_variable, chosen->name, 1) != 0) fail("cannot set GEMMACTL_CPU_LEVEL: ", strerror(errno));
    execv(path, argv);
    fprintf(stderr, "error: cannot run %s: %s\n", path, strerror(errno));
    return 126;
}
