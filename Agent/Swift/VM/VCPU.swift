import CLiveUpdate

import HandoverCore

/// One vCPU of the agent's VM and its kvm_run page.
struct VCPU {
    let fd: Int32
    let run: UnsafeMutableRawPointer

    static var registersSize: Int { hv_kvm_regs_size() }
    /// KVM_RUN returns EINTR when a signal is pending; this many in a row means it never enters.
    static let interruptionLimit = 100_000
    static var specialRegistersSize: Int { hv_kvm_sregs_size() }

    static func create(vm: Int32) throws(SystemError) -> VCPU {
        let kvm = try checkLibc("open /dev/kvm", hv_open("/dev/kvm", O_RDWR | O_CLOEXEC))
        defer { close(kvm) }
        let size = try check("KVM_GET_VCPU_MMAP_SIZE", hv_kvm_vcpu_mmap_size(kvm))
        let fd = try check("KVM_CREATE_VCPU 0", hv_kvm_create_vcpu(vm, 0))
        guard let run = hv_kvm_map_run(fd, size) else { throw SystemError(call: "mmap kvm_run", errno: errno) }
        return VCPU(fd: fd, run: run)
    }

    /// Enters the guest until its next exit.
    func enter() throws(SystemError) -> hv_kvm_exit {
        var rc: Int32
        var interrupted = 0
        repeat {
            rc = hv_kvm_run(fd)
            if rc == -EINTR { interrupted += 1 }
        } while rc == -EINTR && interrupted < Self.interruptionLimit
        try check(interrupted < Self.interruptionLimit ? "KVM_RUN" : "KVM_RUN (interrupted \(interrupted) times in a row)", rc)
        var exit = hv_kvm_exit()
        hv_kvm_exit_of(run, &exit)
        return exit
    }

    /// Completes the exit KVM still holds (the port write the guest made is only finished, and
    /// its instruction pointer moved past it, on the next KVM_RUN) without entering the guest:
    /// KVM_RUN with immediate_exit set, which returns EINTR. Only then is the state consistent.
    func completePendingExit() throws(SystemError) {
        hv_kvm_set_immediate_exit(run, 1)
        defer { hv_kvm_set_immediate_exit(run, 0) }
        let rc = hv_kvm_run(fd)
        guard rc == -EINTR else {
            throw SystemError(call: "KVM_RUN with immediate_exit (expected EINTR)", errno: rc < 0 ? -rc : 0)
        }
    }

    func state() throws(SystemError) -> (registers: [UInt8], special: [UInt8]) {
        var registers = [UInt8](repeating: 0, count: Self.registersSize)
        var special = [UInt8](repeating: 0, count: Self.specialRegistersSize)
        try check("KVM_GET_REGS", registers.withUnsafeMutableBytes { hv_kvm_get_regs(fd, $0.baseAddress) })
        try check("KVM_GET_SREGS", special.withUnsafeMutableBytes { hv_kvm_get_sregs(fd, $0.baseAddress) })
        return (registers, special)
    }

    func restore(registers: [UInt8], special: [UInt8]) throws(SystemError) {
        try check("KVM_SET_SREGS", special.withUnsafeBytes { hv_kvm_set_sregs(fd, $0.baseAddress) })
        try check("KVM_SET_REGS", registers.withUnsafeBytes { hv_kvm_set_regs(fd, $0.baseAddress) })
    }
}

extension hv_kvm_exit {
    var summary: String {
        switch reason {
        case UInt32(HV_KVM_EXIT_IO): "KVM_EXIT_IO (\(direction == 1 ? "out" : "in") port \(hexString(UInt64(port))), size \(size), value \(value))"
        case UInt32(HV_KVM_EXIT_HLT): "KVM_EXIT_HLT"
        case UInt32(HV_KVM_EXIT_SHUTDOWN): "KVM_EXIT_SHUTDOWN (a triple fault in the guest)"
        case UInt32(HV_KVM_EXIT_FAIL_ENTRY): "KVM_EXIT_FAIL_ENTRY (hardware entry failure reason \(hexString(detail)))"
        case UInt32(HV_KVM_EXIT_INTERNAL_ERROR): "KVM_EXIT_INTERNAL_ERROR (suberror \(detail))"
        default: "exit reason \(reason)"
        }
    }

    /// The guest program's report: an out of 4 bytes to its port.
    var report: UInt32? {
        reason == UInt32(HV_KVM_EXIT_IO) && direction == 1 && size == 4 && count == 1 && port == GuestProgram.port ? value : nil
    }
}
