import Foundation
import HandoverCore
import Subprocess
import Synchronization
import SystemPackage
import HandoverSupport

/// One QEMU process and its two channels. Every event (agent messages, console lines, the
/// process ending) arrives in one mailbox with its host time; the console goes to
/// console.log and the protocol to transcript.jsonl in the run directory.
public final class QemuMachine: VirtualMachine {
    public let config: VMConfig
    public let directory: RunDirectory
    let events = Mailbox<VMEvent>()
    private let recorder = Mutex<ChannelRecorder?>(nil)
    private let startedAt = HostTime.monotonicNow()
    private let state = Mutex<State>(State())

    struct State {
        var pid: pid_t?
        var agent: SocketConnection?
        var console: SocketConnection?
        var exited = false
        var stderr: [String] = []
    }

    public init(config: VMConfig, directory: RunDirectory) {
        self.config = config
        self.directory = directory
    }

    /// QEMU's process, once started.
    public var processID: pid_t? { state.withLock { $0.pid } }

    public var consoleLog: URL { directory.file("console.log") }
    public var transcript: URL { directory.file("transcript.jsonl") }
    var qmpSocket: URL { directory.file("qmp.sock") }

    public var arguments: [String] {
        QemuCommand.arguments(config, consolePipe: directory.file("console"),
                              agentSocket: directory.file("agent.sock"), qmpSocket: qmpSocket)
    }

    func now() -> HostTime { HostTime(nanoseconds: HostTime.monotonicNow() - startedAt) }

    /// The last console lines, for error messages and results.
    public func consoleLines(last count: Int) -> [String] {
        recorder.withLock { $0 }?.consoleLines(last: count) ?? []
    }

    public var hostErrors: [String] { state.withLock { $0.stderr } }

    public var launchDescription: String { QemuCommand.display(arguments, arch: config.arch) }
    var binary: String { QemuCommand.executable(for: config.arch) }

    public var artifacts: [(URL, String)] {
        [(consoleLog, "console.log"), (transcript, "transcript.jsonl"), (directory.file("qemu-command"), "qemu-command")]
    }

    /// Starts QEMU and waits until it has connected to both channels.
    public func start(connectTimeout: TimeInterval) async throws {
        let consolePipe = try ConsolePipe(path: directory.file("console"))
        let agentListener = try UnixListener(path: directory.file("agent.sock"))
        defer { agentListener.close() }
        let recorder = try ChannelRecorder(consoleLog: consoleLog, transcript: transcript, events: events)
        self.recorder.withLock { $0 = recorder }
        try AtomicFile.write(QemuCommand.display(arguments, arch: config.arch) + "\n", to: directory.file("qemu-command"))

        let arguments = self.arguments
        let launched = Mailbox<Result<pid_t, HarnessError>>()
        Task.detached { [self] in
            await self.runProcess(arguments: arguments, launched: launched)
        }
        let deadline = ContinuousClock.now + .seconds(connectTimeout)
        guard case .success(let pid)? = await launched.next(until: deadline) else {
            throw HarnessError(.toolFailed, "QEMU did not start: \(binary) is not installed or failed to launch")
        }
        state.withLock { $0.pid = pid }

        // QEMU opens the console's FIFOs and connects to the agent's socket while it sets up,
        // before the guest runs; the console chardev comes first on its command line.
        var agent: SocketConnection?
        let accepting = Date()
        while agent == nil {
            if Date().timeIntervalSince(accepting) > connectTimeout || state.withLock({ $0.exited }) {
                stop()
                let said = hostErrors.filter { !$0.isEmpty }.suffix(3).joined(separator: " | ")
                throw HarnessError(.toolFailed, "QEMU did not connect to its agent socket" + (said.isEmpty ? "" : "; QEMU said: \(said)"), tail: hostErrors)
            }
            agent = agentListener.accept(timeout: 0.05)
        }
        let console = consolePipe.reader()
        state.withLock {
            $0.console = console
            $0.agent = agent
        }
        startReaders(console: console, agent: agent!, recorder: recorder)
    }

    private func runProcess(arguments: [String], launched: Mailbox<Result<pid_t, HarnessError>>) async {
        var options = PlatformOptions()
        options.createSession = true
        // Bound to this process by a lifeline: QEMU dies with handover even on SIGKILL.
        guard let binary = Lifeline.resolve(binary) else {
            state.withLock { $0.exited = true; $0.stderr.append("\(binary) is not installed") }
            await launched.post(.failure(HarnessError(.toolFailed, "cannot start \(binary): not found on PATH")))
            await events.post(.exited(status: "failed to start", now()))
            return
        }
        let lifeline: Lifeline
        do { lifeline = try Lifeline() } catch {
            state.withLock { $0.exited = true; $0.stderr.append("\(error)") }
            await launched.post(.failure(HarnessError(.toolFailed, "cannot start \(binary): \(error)")))
            await events.post(.exited(status: "failed to start", now()))
            return
        }
        defer { lifeline.release() }
        let wrapped = Lifeline.wrap(binary, arguments)
        do {
            let result = try await Subprocess.run(
                .path(FilePath(wrapped.executable)), arguments: Arguments(wrapped.arguments), platformOptions: options,
                input: .fileDescriptor(lifeline.readEnd, closeAfterSpawningProcess: true),
                output: .sequence, error: .combinedWithOutput
            ) { execution in
                let pid = execution.processIdentifier.value
                ChildProcesses.shared.register(pid)
                await launched.post(.success(pid))
                for try await line in execution.standardOutput.strings() {
                    state.withLock { $0.stderr.append(line) }
                }
            }
            let status = result.terminationStatus
            state.withLock {
                if let pid = $0.pid { ChildProcesses.shared.unregister(pid) }
                $0.exited = true
            }
            await events.post(.exited(status: "\(status)", now()))
        } catch {
            state.withLock { $0.exited = true; $0.stderr.append("\(error)") }
            await launched.post(.failure(HarnessError(.toolFailed, "cannot start \(binary): \(error)")))
            await events.post(.exited(status: "failed to start", now()))
        }
    }

    private func startReaders(console: SocketConnection, agent: SocketConnection, recorder: ChannelRecorder) {
        Thread.detachNewThread { [self] in
            console.readLines { recorder.console($0, at: now()) }
        }
        Thread.detachNewThread { [self] in
            agent.readLines { recorder.agent($0, at: now()) }
            recorder.agentClosed(at: now())
        }
    }

    public func send(_ command: RunnerCommand) {
        let line = ProtocolLine.encode(command)
        recorder.withLock { $0 }?.runner(line, at: now())
        state.withLock { $0.agent }?.write(line: line)
    }

    /// The next event, or nil at the deadline.
    public func next(until deadline: ContinuousClock.Instant) async -> VMEvent? {
        await events.next(until: deadline)
    }

    /// Waits for QEMU to end by itself (after the guest powered off) for up to `timeout`.
    public func waitForExit(timeout: TimeInterval) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while !state.withLock({ $0.exited }) {
            guard let event = await events.next(until: deadline) else { return false }
            if case .exited = event { return true }
        }
        return true
    }

    /// Kills QEMU if it still runs and closes everything. Safe to call more than once.
    public func stop() {
        let (pid, exited, connections) = state.withLock { ($0.pid, $0.exited, [$0.agent, $0.console]) }
        if let pid, !exited {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            for _ in 0..<300 {
                if state.withLock({ $0.exited }) || kill(pid, 0) != 0 { break }
                usleep(10_000)
            }
            ChildProcesses.shared.unregister(pid)
        }
        for connection in connections { connection?.close() }
        state.withLock { $0.agent = nil; $0.console = nil }
        recorder.withLock { $0 }?.flush()
        unlink(qmpSocket.path)
    }
}
