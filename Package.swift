// swift-tools-version:6.2
import PackageDescription

// Lets LlamaBackend reach llama.cpp's CPU backend as it is created, to switch it to the
// batch-invariant reference kernels, and keep llamafile's kernels out of such a backend (GNU ld /
// lld only, hence Linux only). Set on what links a program (the executable, the test bundles),
// never on GemmaKit itself: SwiftPM refuses a dependency whose library target carries
// unsafeFlags. Whatever links GemmaKit needs them, or the link fails on the undefined
// `__real_ggml_backend_init_by_type` / `__real_llamafile_sgemm`.
let wrapBackendInit: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "--wrap=ggml_backend_init_by_type", "-Xlinker", "--wrap=llamafile_sgemm"],
                 .when(platforms: [.linux])),
]

let package = Package(
    name: "gemmactl",
    // Linux only: the server uses Linux APIs (epoll through NIO, /proc and cgroup files, GNU ld's --wrap).
    products: [
        .executable(name: "gemmactl", targets: ["gemmactl"]),
        .library(name: "GemmaKit", targets: ["GemmaKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // llama.h only: a module map and a shim header, found through pkg-config
        // (scripts/build-llama writes gemmactl-llama.pc).
        .systemLibrary(name: "CLlama", pkgConfig: "gemmactl-llama"),
        // llama.cpp's C++ common library (JSON Schema to grammar) behind a C header; its headers
        // and library come through CLlama's pkg-config file.
        .target(name: "CLlamaCommon", dependencies: ["CLlama"]),
        .target(
            name: "GemmaKit",
            dependencies: [
                "CLlama",
                "CLlamaCommon",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("Resources/templates")]
        ),
        // The subcommands, as a library so that tests can call them; the executable is main only.
        .target(
            name: "GemmactlCommands",
            dependencies: [
                "GemmaKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "gemmactl", dependencies: ["GemmactlCommands"], linkerSettings: wrapBackendInit),
        .testTarget(
            name: "GemmaKitTests",
            dependencies: [
                "GemmaKit",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            // Expected `gemmactl render` output, read through #filePath (RenderGoldenTests).
            exclude: ["Golden"],
            linkerSettings: wrapBackendInit
        ),
        .testTarget(
            name: "GemmactlCLITests",
            dependencies: [
                "GemmaKit",
                "GemmactlCommands",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            linkerSettings: wrapBackendInit
        ),
    ],
    cxxLanguageStandard: .cxx17
)
