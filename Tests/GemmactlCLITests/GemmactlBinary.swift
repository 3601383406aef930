import Foundation

/// Runs the built `gemmactl` binary as a process and captures what it prints.
enum GemmactlBinary {
    /// The binary `swift build` put next to the test bundle, or `GEMMACTL_BINARY` when set.
    static let path: String = {
        if let path = ProcessInfo.processInfo.environment["GEMMACTL_BINARY"] { return path }
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(".build/debug/gemmactl").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        fatalError("gemmactl binary not found: run `swift build` first or set GEMMACTL_BINARY")
    }()

    /// The repository root (where Package.swift is).
    static let repositoryRoot: URL = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) { return directory }
            directory.deleteLastPathComponent()
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs gemmactl with `arguments` on a GCD thread (never blocking Swift's cooperative pool, which a
    /// stand-in server in this process needs); `environment` entries are added to (or, when nil, removed
    /// from) this process's, with the gemmactl and proxy variables cleared first.
    static func run(_ arguments: [String], environment: [String: String?] = [:], stdin: Data? = nil) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    continuation.resume(returning: try runBlocking(arguments, environment: environment, stdin: stdin))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    static func runBlocking(_ arguments: [String], environment: [String: String?], stdin: Data?) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for name in ["GEMMA_URL", "GEMMA_API_KEY", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"] { env[name] = nil }
        for (name, value) in environment { env[name] = value }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        // Read stderr on another thread so a chatty child cannot block on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}
