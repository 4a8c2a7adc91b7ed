import CLiveUpdate

import HandoverCore

/// Runs a program for the runner with its output on a pipe. Children the program leaves
/// behind (the selftests fork one to hold their sessions across the kexec) are left alone:
/// the program is done when its own process exits.
enum Exec {
    static func run(_ request: ExecRequest) -> ExecResult {
        let started = Machine.microseconds
        func failure(_ message: String) -> ExecResult {
            ExecResult(path: request.path, arguments: request.arguments, exitCode: nil, signal: nil, timedOut: false,
                       output: [], microseconds: Machine.microseconds - started, error: message)
        }
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { return failure("pipe: \(errnoName(errno))") }
        for fd in pipeFDs { _ = hv_fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

        let argv = ([request.path] + request.arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/handover/selftests:/bin"), nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, request.path, &actions, nil, argv, envp)
        close(pipeFDs[1])
        guard rc == 0 else {
            close(pipeFDs[0])
            return failure("posix_spawn \(request.path): \(errnoName(rc))")
        }
        _ = hv_fcntl(pipeFDs[0], F_SETFL, O_NONBLOCK)

        var output: [UInt8] = []
        var status: Int32 = 0
        var exited = false
        var timedOut = false
        let deadline = started + request.timeoutSeconds * 1_000_000
        var buffer = [UInt8](repeating: 0, count: 65536)
        func drain() {
            while true {
                let count = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
                guard count > 0 else { return }
                if output.count < 4 << 20 { output.append(contentsOf: buffer[0..<count]) }
            }
        }
        while !exited {
            var poller = pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, 50)
            drain()
            if waitpid(pid, &status, WNOHANG) == pid { exited = true }
            if !exited && Machine.microseconds > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                timedOut = true
                exited = true
            }
        }
        drain()
        close(pipeFDs[0])
        let exitCode: Int32? = (status & 0x7f) == 0 ? (status >> 8) & 0xff : nil
        let signal: Int32? = (status & 0x7f) != 0 ? status & 0x7f : nil
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return ExecResult(path: request.path, arguments: request.arguments, exitCode: timedOut ? nil : exitCode,
                          signal: timedOut ? SIGKILL : signal, timedOut: timedOut,
                          output: lines.last == "" ? Array(lines.dropLast()) : lines,
                          microseconds: Machine.microseconds - started, error: nil)
    }
}
