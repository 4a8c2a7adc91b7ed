import Foundation
import Subprocess
import SystemPackage

/// Runs host tools (make, apt-get, git, qemu). Every child gets its own session so that
/// the whole tree can be stopped at once, is registered with `ChildProcesses` so an
/// interrupt never leaves one behind, and is bound by a `Lifeline` so that not even a
/// SIGKILL of handover leaves one behind.
public enum Shell {
    public struct Output: Sendable {
        public var status: TerminationStatus
        public var stdout: String
        public var stderr: String
        public var succeeded: Bool { status.isSuccess }
        /// The exit code, or 128 + the signal that ended the process.
        public var exitCode: Int32 {
            switch status {
            case .exited(let code): Int32(code)
            case .signaled(let signal): 128 + Int32(signal)
            }
        }
    }

    /// `name arguments…` bound to a new lifeline (see `Lifeline`): it dies with handover even
    /// on SIGKILL. Throws when the tool is not installed, as spawning it directly would.
    static func supervised(_ name: String, _ arguments: [String], environment: [String: String]) throws
        -> (executable: Executable, arguments: Arguments, lifeline: Lifeline) {
        guard let path = Lifeline.resolve(name, path: environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"]) else {
            throw HarnessError(.toolFailed, "cannot run \(name): it is not installed (not found on PATH)")
        }
        let lifeline = try Lifeline()
        let wrapped = Lifeline.wrap(path, arguments)
        return (.path(FilePath(wrapped.executable)), Arguments(wrapped.arguments), lifeline)
    }

    static var isolatedOptions: PlatformOptions {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        return options
    }

    /// Runs a short command and collects what it prints.
    public static func capture(
        _ name: String, _ arguments: [String], in directory: URL? = nil,
        environment: [String: String] = [:], limit: Int = 16 << 20
    ) async throws -> Output {
        let env: Environment = environment.isEmpty ? .inherit : .inherit.updating(environment.reduce(into: [:]) { $0[.init(stringLiteral: $1.key)] = $1.value })
        let command = try supervised(name, arguments, environment: environment)
        defer { command.lifeline.release() }
        do {
            let result = try await Subprocess.run(
                command.executable, arguments: command.arguments, environment: env,
                workingDirectory: directory.map { FilePath($0.path) }, platformOptions: isolatedOptions,
                input: .fileDescriptor(command.lifeline.readEnd, closeAfterSpawningProcess: true),
                output: .string(limit: limit), error: .string(limit: limit))
            return Output(status: result.terminationStatus, stdout: result.standardOutput, stderr: result.standardError)
        } catch let error as SubprocessError {
            throw HarnessError(.toolFailed, "cannot run \(name): \(error)")
        }
    }

    /// Runs a command, succeeds or throws with the command's own error output.
    @discardableResult
    public static func check(
        _ name: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]
    ) async throws -> String {
        let output = try await capture(name, arguments, in: directory, environment: environment)
        guard output.succeeded else {
            let lines = (output.stderr + output.stdout).split(separator: "\n").suffix(15).map(String.init)
            throw HarnessError(.toolFailed, "\(([name] + arguments).joined(separator: " ")) failed (\(output.status))", tail: lines)
        }
        return output.stdout
    }

    /// Runs a long command, handing each line of its combined output to `onLine` and
    /// appending it to `log`. Returns the termination status and the output's last lines.
    public static func stream(
        _ name: String, _ arguments: [String], in directory: URL? = nil,
        environment: [String: String] = [:], log: FileHandle?, onLine: @escaping @Sendable (String) -> Void
    ) async throws -> (status: TerminationStatus, tail: [String]) {
        let env: Environment = environment.isEmpty ? .inherit : .inherit.updating(environment.reduce(into: [:]) { $0[.init(stringLiteral: $1.key)] = $1.value })
        let command = try supervised(name, arguments, environment: environment)
        defer { command.lifeline.release() }
        do {
            let result = try await Subprocess.run(
                command.executable, arguments: command.arguments, environment: env,
                workingDirectory: directory.map { FilePath($0.path) }, platformOptions: isolatedOptions,
                input: .fileDescriptor(command.lifeline.readEnd, closeAfterSpawningProcess: true),
                output: .sequence, error: .combinedWithOutput
            ) { execution in
                let pid = execution.processIdentifier.value
                ChildProcesses.shared.register(pid)
                defer { ChildProcesses.shared.unregister(pid) }
                var tail: [String] = []
                for try await line in execution.standardOutput.strings() {
                    log?.write(Data((line + "\n").utf8))
                    tail.append(line)
                    if tail.count > 40 { tail.removeFirst(tail.count - 40) }
                    onLine(line)
                }
                return tail
            }
            return (result.terminationStatus, result.closureResult)
        } catch let error as SubprocessError {
            throw HarnessError(.toolFailed, "cannot run \(name): \(error)")
        }
    }
}
