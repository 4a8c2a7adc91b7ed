import Foundation

/// Pins a process and all its threads (QEMU's vCPU threads among them) to a set of host cores.
package enum CPUAffinity {
    private typealias Call = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
    // Glibc declares these only with _GNU_SOURCE, which Swift's Glibc module does not set.
    private static let setAffinity = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_setaffinity").map { unsafeBitCast($0, to: Call.self) }
    private static let getAffinity = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_getaffinity").map { unsafeBitCast($0, to: Call.self) }

    private static func set(_ task: pid_t, _ mask: inout cpu_set_t) -> Bool {
        guard let setAffinity else { return false }
        return withUnsafeMutableBytes(of: &mask) { setAffinity(task, $0.count, $0.baseAddress!) } == 0
    }

    /// The main thread first, so that threads it creates from now on inherit the set; then every
    /// thread that exists. Returns the threads that could not be pinned.
    @discardableResult
    static func pin(_ pid: pid_t, to cores: [Int]) -> [pid_t] {
        var set = cpu_set_t()
        withUnsafeMutableBytes(of: &set) { bytes in
            for core in cores where core >= 0 && core < bytes.count * 8 {
                bytes[core / 8] |= UInt8(1 << (core % 8))
            }
        }
        var failed: [pid_t] = []
        if !Self.set(pid, &set) { failed.append(pid) }
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for task in tasks.compactMap({ pid_t($0) }) where task != pid {
            if !Self.set(task, &set) { failed.append(task) }
        }
        return failed
    }

    /// The cores a thread may run on, as the kernel reports them (for checking a pin).
    static func cores(of task: pid_t) -> [Int] {
        var set = cpu_set_t()
        guard let getAffinity, withUnsafeMutableBytes(of: &set, { getAffinity(task, $0.count, $0.baseAddress!) }) == 0 else { return [] }
        return withUnsafeBytes(of: &set) { bytes in
            (0..<(bytes.count * 8)).filter { bytes[$0 / 8] & UInt8(1 << ($0 % 8)) != 0 }
        }
    }
}
