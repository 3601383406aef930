import Foundation

/// A real server (llama-server, later `gemmactl serve`) run as a child process on a loopback port,
/// its output going to a log file that is shown when a test fails.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let log: URL
    var url: String { "http://127.0.0.1:\(port)" }

    init(executable: String, arguments: (Int) -> [String], environment: [String: String] = [:]) throws {
        port = unusedPort()
        log = FileManager.default.temporaryDirectory.appendingPathComponent("gemmactl-server-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments(port)
        var env = ProcessInfo.processInfo.environment
        for (name, value) in environment { env[name] = value }
        process.environment = env
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// SIGTERM, then SIGKILL if it has not gone within five seconds.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: log)
    }

    deinit { stop() }

    /// Whether the built gemmactl has a `serve` subcommand yet.
    static let llamaServer: String? = {
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        let cache = ProcessInfo.processInfo.environment["GEMMACTL_CACHE_DIR"] ?? "\(home)/.cache/gemmactl"
        let path = "\(cache)/llama.cpp/current/bin/llama-server"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()
}
