import CLiveUpdate

/// The calling thread's errno (C's errno is a macro Swift cannot import).
var errno: Int32 { hv_errno() }
import CLiveUpdate

import HandoverCore

/// Thin, errno-carrying wrappers over what the agent asks of the kernel.
struct SystemError: Error, CustomStringConvertible {
    var call: String
    var errno: Int32

    var name: String { errnoName(errno) }
    var description: String { "\(call): \(name)" }
}

/// A C shim result: negative values are -errno.
@discardableResult
func check(_ call: String, _ value: Int32) throws(SystemError) -> Int32 {
    if value < 0 { throw SystemError(call: call, errno: -value) }
    return value
}

func checkLibc(_ call: String, _ value: Int32) throws(SystemError) -> Int32 {
    if value < 0 { throw SystemError(call: call, errno: hv_errno()) }
    return value
}

func errnoName(_ code: Int32) -> String {
    let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO", E2BIG: "E2BIG",
        ENOEXEC: "ENOEXEC", EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES",
        EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR",
        EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE", ENOTTY: "ENOTTY", EFBIG: "EFBIG",
        ENOSPC: "ENOSPC", ESPIPE: "ESPIPE", EROFS: "EROFS", ERANGE: "ERANGE", ENAMETOOLONG: "ENAMETOOLONG",
        ENOSYS: "ENOSYS", EOPNOTSUPP: "EOPNOTSUPP", EKEYREJECTED: "EKEYREJECTED", EOVERFLOW: "EOVERFLOW",
    ]
    return names[code] ?? "errno \(code)"
}

enum Files {
    /// Reads a whole file, including /proc files whose size reads as 0.
    static func read(_ path: String) -> String? {
        let fd = hv_open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { CLiveUpdate.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && hv_errno() == EINTR { continue }
            if count <= 0 { break }
            result.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: result, as: UTF8.self)
    }

    static func readBytes(_ path: String) -> [UInt8]? {
        read(path).map { Array($0.utf8) }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Writes text to a file that exists (sysfs attributes); returns 0 or the errno.
    static func write(_ path: String, _ text: String) -> Int32 {
        let fd = hv_open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return hv_errno() }
        defer { close(fd) }
        let written = text.withCString { CLiveUpdate.write(fd, $0, strlen($0)) }
        return written < 0 ? hv_errno() : 0
    }

    /// Where a symlink points, or nil.
    static func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func list(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

enum Machine {
    static func mountEssentials() {
        let mounts: [(String, String, String)] = [
            ("proc", "/proc", "proc"), ("sysfs", "/sys", "sysfs"), ("devtmpfs", "/dev", "devtmpfs"),
            ("debugfs", "/sys/kernel/debug", "debugfs"), ("tmpfs", "/tmp", "tmpfs"),
        ]
        for (source, target, type) in mounts {
            mkdir(target, 0o755)
            let rc = hv_mount(source, target, type)
            if rc < 0 && -rc != EBUSY {
                console("handover-agent: mount \(type) on \(target): \(errnoName(-rc))")
            }
        }
    }

    static var release: String {
        var names = utsname()
        uname(&names)
        return withUnsafePointer(to: names.release) {
            $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) }
        }
    }

    static var uptime: Double {
        Double(Files.read("/proc/uptime")?.split(separator: " ").first ?? "") ?? 0
    }

    /// Monotonic microseconds, for durations inside one boot.
    static var microseconds: Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1_000_000 + now.tv_nsec / 1000
    }

    /// The CPU's counter and the monotonic clock, read back to back.
    static var counter: CounterReading {
        let ticks = hv_counter_ticks()
        let hertz = hv_counter_hertz()
        return CounterReading(ticks: ticks, hertz: hertz == 0 ? nil : hertz, monotonicMicros: microseconds)
    }

    /// VmHWM of this process, in KiB.
    static var peakRSSKiB: Int {
        let line = Files.read("/proc/self/status")?.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
        return line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
    }

    static func raiseFileLimit() {
        _ = hv_raise_file_limit()
    }

    /// Ends the VM: QEMU runs with -no-reboot, so a restart makes it exit. Power-off needs
    /// ACPI, which tiny guests lack.
    static func powerOff() -> Never {
        sync()
        _ = hv_reboot(hv_reboot_cmd_restart())
        _ = hv_reboot(hv_reboot_cmd_power_off())
        exit(0)
    }
}

/// A line on the VM's console (the agent is PID 1: its stdout is /dev/console).
func console(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}
