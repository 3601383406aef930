#pragma once
#include <llama.h>
#include <ggml-cpu.h>

#if defined(__linux__)
// The linker's --wrap=ggml_backend_init_by_type (Package.swift) sends llama.cpp's call for its
// CPU backend to gemmactl's __wrap_ function, which calls this original; see LlamaBackend.swift.
ggml_backend_t __real_ggml_backend_init_by_type(enum ggml_backend_dev_type type, const char * params);
#endif
