import Foundation

/// What a finished external command left behind.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: Data

    public init(status: Int32, stdout: Data, stderr: Data = Data()) {
        self.status = status; self.stdout = stdout; self.stderr = stderr
    }

    public var stderrText: String { String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// Runs external programs (kubectl). Injected so tests can hand back canned output.
public protocol CommandRunner: Sendable {
    /// The full path of `program` if it can be run, else nil.
    func locate(_ program: String) -> String?
    func run(_ executable: String, _ arguments: [String], stdin: Data?) async throws -> CommandResult
}

/// Runs programs found on `PATH` as child processes.
public struct ProcessRunner: CommandRunner {
    let searchPath: String

    public init(searchPath: String? = Environment.value("PATH", in: ProcessInfo.processInfo.environment)) {
        self.searchPath = searchPath ?? "/usr/local/bin:/usr/bin:/bin"
    }

    public func locate(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        for directory in searchPath.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public func run(_ executable: String, _ arguments: [String], stdin: Data?) async throws -> CommandResult {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: executable)
                    process.arguments = arguments
                    let out = Pipe(), err = Pipe(), input = Pipe()
                    process.standardOutput = out
                    process.standardError = err
                    process.standardInput = input
                    try process.run()
                    let group = DispatchGroup()
                    nonisolated(unsafe) var errData = Data()
                    group.enter()
                    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
                    if let stdin { input.fileHandleForWriting.write(stdin) }
                    try? input.fileHandleForWriting.close()
                    let outData = out.fileHandleForReading.readDataToEndOfFile()
                    group.wait()
                    process.waitUntilExit()
                    continuation.resume(returning: CommandResult(status: process.terminationStatus, stdout: outData, stderr: errData))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
