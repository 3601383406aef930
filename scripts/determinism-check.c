// Greedy determinism check for a llama.cpp build: each prompt's greedy tokens, and their logits bit
// for bit, decoded alone must equal those decoded batched with other prompts of other lengths,
// several sequences in one llama_decode per step (as gemmactl's scheduler batches slots). Used by
// scripts/check-arm64 to run aarch64 builds under qemu; it builds for the host too.
//
//   determinism-check MODEL.gguf [--tokens N] [--threads N] [--fast-kernels]
//
// Link with -Wl,--wrap=ggml_backend_init_by_type -Wl,--wrap=llamafile_sgemm: like gemmactl
// (LlamaBackend.swift), it switches the CPU backend llama.cpp creates to ggml's reference kernels and
// keeps llamafile's kernels out of it, unless --fast-kernels.
// Exit status: 0 when every prompt's tokens and logits match bit for bit, 1 on a mismatch (the
// first divergence is printed), 2 on bad arguments or a llama.cpp failure.
#define _POSIX_C_SOURCE 199309L
#include <llama.h>
#include <ggml-cpu.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// The prompts of gemmactl's SchedulerTests, of different lengths; "In 1969, the first" starts on a
// near-tie that flipped with ggml's batch-shape-dependent kernels.
static const char * const prompts[] = {
    "The capital of Italy is",
    "In 1969, the first",
    "Water boils at",
    "The history of the world is long and full of surprises. Kubernetes is",
    "My favourite fruit is",
};
enum { n_prompts = sizeof(prompts) / sizeof(prompts[0]) };
// The decode step at which each prompt joins the batched run: two prompts prefill together, the
// others arrive while earlier ones decode (their prompt shares a batch with the others' next tokens).
static const int join_step[n_prompts] = { 0, 0, 1, 2, 4 };

static bool use_reference_kernels = true;

ggml_backend_t __real_ggml_backend_init_by_type(enum ggml_backend_dev_type type, const char * params);

// The linker's --wrap routes llama.cpp's call for its CPU backend here, as in gemmactl.
ggml_backend_t __wrap_ggml_backend_init_by_type(enum ggml_backend_dev_type type, const char * params) {
    ggml_backend_t backend = __real_ggml_backend_init_by_type(type, params);
    if (backend != NULL && type == GGML_BACKEND_DEVICE_TYPE_CPU && use_reference_kernels) {
        ggml_backend_cpu_set_use_ref(backend, true);
    }
    return backend;
}

// The leading fields of ggml's struct ggml_compute_params (ggml-cpu-impl.h, not installed), as in
// gemmactl's Sources/CLlama/shim.h.
struct ggml_compute_params;
struct compute_params_head { int ith, nth; size_t wsize; void * wdata; void * threadpool; bool use_ref; };

bool __real_llamafile_sgemm(const struct ggml_compute_params * params, int64_t m, int64_t n, int64_t k,
                            const void * a, int64_t lda, const void * b, int64_t ldb, void * c, int64_t ldc,
                            int Atype, int Btype, int Ctype);

// llamafile's tinyBLAS computes a row differently when other rows share the batch: declined (false,
// ggml's own kernels run) on a backend switched to reference kernels.
bool __wrap_llamafile_sgemm(const struct ggml_compute_params * params, int64_t m, int64_t n, int64_t k,
                            const void * a, int64_t lda, const void * b, int64_t ldb, void * c, int64_t ldc,
                            int Atype, int Btype, int Ctype) {
    if (params != NULL && ((const struct compute_params_head *) (const void *) params)->use_ref) {
        return false;
    }
    return __real_llamafile_sgemm(params, m, n, k, a, lda, b, ldb, c, ldc, Atype, Btype, Ctype);
}

static void quiet_log(enum ggml_log_level level, const char * text, void * user_data) {
    (void) user_data;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void fail(const char * message) {
    fprintf(stderr, "error: %s\n", message);
    exit(2);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    llama_token tokens[512];
    int n_tokens;
} prompt_tokens;

typedef struct {
    llama_token * generated;  // n_generate sampled tokens
    float * logits;           // n_generate rows of n_vocab logits, each sampled from
    int n_generated;
    int position;             // next KV position
    int output_row;           // batch row holding this sequence's logits, -1 if none
} sequence_run;

static struct llama_context * context;
static llama_memory_t memory;
static int n_vocab;
static int n_generate = 12;

static void add_token(struct llama_batch * batch, llama_token token, int position, int sequence, bool logits) {
    int i = batch->n_tokens++;
    batch->token[i] = token;
    batch->pos[i] = position;
    batch->n_seq_id[i] = 1;
    batch->seq_id[i][0] = sequence;
    batch->logits[i] = logits;
}

static llama_token argmax(const float * row) {
    llama_token best = 0;
    for (int i = 1; i < n_vocab; i++) {
        if (row[i] > row[best]) best = i;
    }
    return best;
}

// Decodes the prompts whose `active` flag is set, each joining at `joins[s]`, until every one has
// n_generate greedy tokens. Each step is one llama_decode: next tokens first, then whole prompts
// (gemmactl's scheduler order).
static void run(const prompt_tokens * input, const bool * active, const int * joins, sequence_run * runs) {
    llama_memory_clear(memory, true);
    struct llama_batch batch = llama_batch_init(1024, 0, 1);
    for (int step = 0;; step++) {
        batch.n_tokens = 0;
        bool pending = false;
        for (int s = 0; s < n_prompts; s++) {
            sequence_run * r = &runs[s];
            r->output_row = -1;
            if (!active[s]) continue;
            if (joins[s] > step || r->n_generated == n_generate) {
                pending |= r->n_generated < n_generate;
                continue;
            }
            if (r->n_generated > 0) {
                r->output_row = batch.n_tokens;
                add_token(&batch, r->generated[r->n_generated - 1], r->position++, s, true);
            }
        }
        for (int s = 0; s < n_prompts; s++) {
            sequence_run * r = &runs[s];
            if (!active[s] || joins[s] != step) continue;
            for (int i = 0; i < input[s].n_tokens; i++) {
                bool last = i == input[s].n_tokens - 1;
                if (last) r->output_row = batch.n_tokens;
                add_token(&batch, input[s].tokens[i], r->position++, s, last);
            }
        }
        if (batch.n_tokens == 0) {
            if (pending) continue;
            break;
        }
        int status = llama_decode(context, batch);
        if (status != 0) {
            fprintf(stderr, "error: llama_decode failed with status %d\n", status);
            exit(2);
        }
        for (int s = 0; s < n_prompts; s++) {
            sequence_run * r = &runs[s];
            if (r->output_row < 0) continue;
            const float * row = llama_get_logits_ith(context, r->output_row);
            if (row == NULL) fail("no logits for an output row");
            memcpy(r->logits + (size_t) r->n_generated * n_vocab, row, sizeof(float) * n_vocab);
            r->generated[r->n_generated++] = argmax(row);
        }
    }
    llama_batch_free(batch);
}

static void allocate(sequence_run * runs) {
    for (int s = 0; s < n_prompts; s++) {
        runs[s].generated = calloc(n_generate, sizeof(llama_token));
        runs[s].logits = calloc((size_t) n_generate * n_vocab, sizeof(float));
        if (runs[s].generated == NULL || runs[s].logits == NULL) fail("out of memory");
        runs[s].n_generated = 0;
        runs[s].position = 0;
    }
}

int main(int argc, char ** argv) {
    const char * model_path = NULL;
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) {
            n_generate = atoi(argv[++i]);
            if (n_generate < 1 || n_generate > 256) fail("--tokens takes a number from 1 to 256");
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
            if (threads < 1 || threads > 256) fail("--threads takes a number from 1 to 256");
        } else if (strcmp(argv[i], "--fast-kernels") == 0) {
            use_reference_kernels = false;
        } else if (argv[i][0] != '-' && model_path == NULL) {
            model_path = argv[i];
        } else {
            fprintf(stderr, "usage: %s MODEL.gguf [--tokens N] [--threads N] [--fast-kernels]\n", argv[0]);
            return 2;
        }
    }
    if (model_path == NULL) fail("no model given (usage: determinism-check MODEL.gguf [--tokens N] [--threads N] [--fast-kernels])");

    double started = now_seconds();
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    // gemmactl's model settings (LlamaModel.swift): no repacked weights, whose kernels also change
    // with the number of rows.
    struct llama_model_params model_params = llama_model_default_params();
    model_params.use_extra_bufts = false;
    struct llama_model * model = llama_model_load_from_file(model_path, model_params);
    if (model == NULL) {
        fprintf(stderr, "error: llama.cpp could not load %s\n", model_path);
        return 2;
    }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    n_vocab = llama_vocab_n_tokens(vocab);

    // gemmactl's context settings (LlamaContext.swift): one KV stream per sequence, full SWA cache.
    struct llama_context_params params = llama_context_default_params();
    params.n_ctx = 256 * n_prompts;
    params.n_batch = 512;
    params.n_ubatch = 512;
    params.n_seq_max = n_prompts;
    params.n_threads = threads;
    params.n_threads_batch = threads;
    params.no_perf = true;
    params.kv_unified = false;
    params.swa_full = true;
    context = llama_init_from_model(model, params);
    if (context == NULL) fail("could not create a llama.cpp context");
    memory = llama_get_memory(context);

    prompt_tokens input[n_prompts];
    for (int s = 0; s < n_prompts; s++) {
        input[s].n_tokens = llama_tokenize(vocab, prompts[s], (int32_t) strlen(prompts[s]), input[s].tokens, 512, true, false);
        if (input[s].n_tokens <= 0 || input[s].n_tokens + n_generate > 256) fail("a prompt does not fit its sequence's context");
    }
    double loaded = now_seconds();

    sequence_run alone[n_prompts], batched[n_prompts];
    allocate(alone);
    allocate(batched);
    const int at_start[n_prompts] = { 0 };
    for (int s = 0; s < n_prompts; s++) {
        bool only[n_prompts] = { false };
        only[s] = true;
        run(input, only, at_start, alone);
    }
    bool all[n_prompts];
    for (int s = 0; s < n_prompts; s++) all[s] = true;
    run(input, all, join_step, batched);
    double finished = now_seconds();

    printf("system: %s\n", llama_print_system_info());
    printf("kernels: %s, threads %d, %d prompts, %d greedy tokens each\n",
           use_reference_kernels ? "reference" : "fast", threads, n_prompts, n_generate);
    // Every row is computed the same way alone or batched, so the logits must be bit-identical, not
    // just the greedy tokens: a difference there is a token flip waiting for a near-tie.
    int mismatches = 0;
    for (int s = 0; s < n_prompts; s++) {
        int first_token = -1, first_row = -1;
        float max_diff = 0;
        for (int k = 0; k < n_generate && first_token < 0; k++) {
            const float * a = alone[s].logits + (size_t) k * n_vocab;
            const float * b = batched[s].logits + (size_t) k * n_vocab;
            if (memcmp(a, b, sizeof(float) * n_vocab) != 0) {
                if (first_row < 0) first_row = k;
                for (int v = 0; v < n_vocab; v++) {
                    float d = a[v] > b[v] ? a[v] - b[v] : b[v] - a[v];
                    if (d > max_diff) max_diff = d;
                }
            }
            if (alone[s].generated[k] != batched[s].generated[k]) first_token = k;  // later rows see other inputs
        }
        if (first_row < 0) {
            printf("match    prompt %d \"%s\": %d tokens, logits bit-identical\n", s, prompts[s], n_generate);
            continue;
        }
        mismatches++;
        printf("MISMATCH prompt %d \"%s\": logits differ from token %d (max |diff| %g)", s, prompts[s], first_row, max_diff);
        if (first_token >= 0) {
            char alone_piece[64] = "", batched_piece[64] = "";
            llama_token_to_piece(vocab, alone[s].generated[first_token], alone_piece, sizeof alone_piece - 1, 0, false);
            llama_token_to_piece(vocab, batched[s].generated[first_token], batched_piece, sizeof batched_piece - 1, 0, false);
            printf("; token %d is %d \"%s\" alone, %d \"%s\" batched\n", first_token,
                   alone[s].generated[first_token], alone_piece, batched[s].generated[first_token], batched_piece);
        } else {
            printf("; greedy tokens still equal\n");
        }
    }
    // What each prompt generated alone, and a hash of its logits, to compare builds (CPU levels) with
    // each other: scripts/check-arm64 --levels diffs these lines.
    for (int s = 0; s < n_prompts; s++) {
        uint64_t hash = 1469598103934665603ull;  // FNV-1a over the logits' bytes
        const unsigned char * bytes = (const unsigned char *) alone[s].logits;
        for (size_t i = 0; i < sizeof(float) * (size_t) n_generate * n_vocab; i++) hash = (hash ^ bytes[i]) * 1099511628211ull;
        printf("greedy   prompt %d:", s);
        for (int k = 0; k < n_generate; k++) printf(" %d", alone[s].generated[k]);
        printf("\nlogits   prompt %d: fnv1a %016llx\n", s, (unsigned long long) hash);
    }
    printf("result: %s (%d of %d prompts differ); load %.1f s, decode %.1f s\n",
           mismatches == 0 ? "PASS" : "FAIL", mismatches, n_prompts, loaded - started, finished - loaded);

    llama_free(context);
    llama_model_free(model);
    llama_backend_free();
    return mismatches == 0 ? 0 : 1;
}
