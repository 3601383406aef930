# The image the `gemmactl` render profile runs: gemmactl with llama.cpp linked in (CPU, portable build).
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/you/gemmactl:0.1.0 .
#   gemmactl render --image ghcr.io/you/gemmactl:0.1.0 | kubectl apply -f -
#
# Build stage: the Swift toolchain, the pinned llama.cpp built with --portable (no -march=native), then a
# release build of gemmactl. The image needs a CPU floor per architecture (docs/render.md, "Image"):
# x86_64 with AVX2, FMA, F16C and BMI2 (Haswell, Zen 1 and later); any aarch64 (ARMv8-A). gemmactl checks
# it at start-up and says what is missing.
# CPU levels (docs/render.md, "CPU levels"): ggml's CPU backend is also built for the levels above the
# floor (amd64 avx512; arm64 dotprod, i8mm) and gemmactl relinked against each (seconds; the Swift code
# is compiled once). /opt/gemmactl/gemmactl is a small C launcher that runs gemmactl-LEVEL, the best
# this CPU can run; GEMMACTL_CPU_LEVEL=LEVEL picks one.
# g++: the swift image has gcc but no g++, and llama.cpp needs a C and C++ compiler of one family
# (scripts/build-llama refuses gcc with Swift's clang++).
ARG SWIFT_VERSION=6.3
FROM swift:${SWIFT_VERSION}-bookworm AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      g++ cmake ninja-build pkg-config python3-pip python3-venv libcurl4-openssl-dev libssl-dev libyaml-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# llama.cpp first: its layer is reused while only Swift sources change.
COPY scripts/common.sh scripts/build-llama scripts/
ENV GEMMACTL_CACHE_DIR=/cache
RUN scripts/build-llama --portable
# Each higher level's CPU backend: a few minutes each, in a layer of its own.
RUN for level in $(scripts/build-llama --levels | tail -n +2); do scripts/build-llama --portable --level "$level" >/dev/null; done
COPY . .
# The manifest templates travel as the gemmactl_GemmaKit.resources bundle: gemmactl looks for it next to its
# binary, so every gemmactl-LEVEL sits next to it.
RUN swift build -c release --product gemmactl \
 && scripts/link-levels --configuration release /out \
 && cp -R "$(swift build -c release --show-bin-path)/gemmactl_GemmaKit.resources" /out/

# Runtime stage: the Swift runtime libraries only, plus libgomp for llama.cpp and CA certificates for
# model downloads. Runs as an unprivileged user; models live on the volume mounted at /models.
FROM swift:${SWIFT_VERSION}-bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libgomp1 ca-certificates libcurl4 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /opt/gemmactl/
RUN ln -s /opt/gemmactl/gemmactl /usr/local/bin/gemmactl \
 && mkdir -p /models && chown 65532:65532 /models
ENV HF_HOME=/models
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/opt/gemmactl/gemmactl"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
