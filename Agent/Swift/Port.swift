import CLiveUpdate

import HandoverCore

/// The agent's end of the virtio-serial channel: JSON lines both ways.
final class Port {
    let fd: Int32
    let device: String
    private var pending: [UInt8] = []

    init(fd: Int32, device: String) {
        self.fd = fd
        self.device = device
    }

    /// Finds the virtio port with the given name (/sys/class/virtio-ports/*/name) and opens it.
    static func open(named wanted: String, timeoutSeconds: Int = 10) throws(SystemError) -> Port {
        let deadline = Machine.microseconds + timeoutSeconds * 1_000_000
        while true {
            for port in Files.list("/sys/class/virtio-ports") {
                let name = Files.read("/sys/class/virtio-ports/\(port)/name")?.trimmed
                guard name == wanted else { continue }
                let path = "/dev/\(port)"
                let fd = hv_open(path, O_RDWR | O_CLOEXEC)
                if fd >= 0 { return Port(fd: fd, device: path) }
                throw SystemError(call: "open \(path)", errno: errno)
            }
            if Machine.microseconds > deadline { throw SystemError(call: "find virtio port '\(wanted)'", errno: ENODEV) }
            usleep(20_000)
        }
    }

    func send(_ message: AgentMessage) {
        let line = ProtocolLine.encode(message) + "\n"
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { usleep(1000); continue }
                console("handover-agent: writing to \(device) failed: \(errnoName(errno))")
                return
            }
            offset += written
        }
        bytes.removeAll()
    }

    /// Fault injection: lines no runner may trust, then a truncated one.
    func sendGarbage() {
        for line in ["not json at all", "{\"v\":1,\"type\":\"quiesce\"", "{\"v\":99,\"type\":\"done\",\"body\":{}}", "{\"v\":2,\"type\":\"hello\",\"body\":{\"stage\":\"two\"}}"] {
            _ = (line + "\n").withCString { write(fd, $0, strlen($0)) }
        }
        _ = "{\"v\":1,\"type\":\"resu".withCString { write(fd, $0, strlen($0)) }
    }

    /// The next line from the runner, or nil when the channel closed.
    func readLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && (errno == EINTR || errno == EAGAIN) { usleep(1000); continue }
            // The host side not being connected reads as 0 on a virtio port: wait for it.
            if count == 0 { usleep(10_000); continue }
            if count < 0 { return nil }
            pending.append(contentsOf: buffer[0..<count])
        }
    }

    /// The next well-formed command; malformed lines are reported back, never fatal.
    func nextCommand() -> RunnerCommand? {
        while let line = readLine() {
            do {
                return try ProtocolLine.decode(RunnerCommand.self, from: line)
            } catch {
                send(.log("agent ignored a malformed command: \(error.description)"))
            }
        }
        return nil
    }
}
