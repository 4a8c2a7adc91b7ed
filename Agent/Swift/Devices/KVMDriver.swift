import CLiveUpdate

import HandoverCore

/// Stage 1 of a guest_memfd scenario: a KVM VM inside this guest and its guest_memfd objects,
/// created shared and mmap-able (the only kind the series preserves) and filled through a mapping.
struct KVMDriver {
    let agent: Agent
    static let guestMemfdFlags = HV_GUEST_MEMFD_FLAG_MMAP | HV_GUEST_MEMFD_FLAG_INIT_SHARED

    func setUp(_ setup: KVMSetup, plan: AgentPlan, objects: inout [String: Int32], handles: inout [Handle: Int32]) throws(SetupRefusal) {
        try agent.setupStep(.cpuVirtualization) { () throws(SetupRefusal) in
            let flags = Files.read("/proc/cpuinfo")?.split(separator: "\n").first { $0.hasPrefix("flags") }.map { $0.split(separator: " ").map(String.init) } ?? []
            let found = ["vmx", "svm"].filter(flags.contains)
            guard !found.isEmpty else { throw SetupRefusal(step: .cpuVirtualization, errno: nil, detail: "/proc/cpuinfo shows neither vmx nor svm") }
            return ((), "CPU flag \(found.joined(separator: ", "))")
        }
        let kvm = try agent.setupStep(.openKVM) { () throws(SetupRefusal) in
            let fd = hv_open("/dev/kvm", O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw SetupRefusal(step: .openKVM, errno: errno, detail: "open /dev/kvm: \(errnoName(errno))") }
            let version = hv_kvm_api_version(fd)
            guard version == 12 else {
                throw SetupRefusal(step: .openKVM, errno: version < 0 ? -version : nil, detail: "KVM_GET_API_VERSION gave \(version), expected 12")
            }
            return (fd, "/dev/kvm, API version 12")
        }
        let vm = try agent.setupStep(.createVM) { () throws(SetupRefusal) in
            let fd = try require(.createVM, "KVM_CREATE_VM type \(setup.vmType)", hv_kvm_create_vm(kvm, UInt(setup.vmType)))
            return (fd, "VM fd of type \(setup.vmType)")
        }
        handles[.kvmVM] = vm
        guard plan.objects.contains(where: { $0.backing == .guestMemfd }) else { return }
        try agent.setupStep(.guestMemfdCapability) { () throws(SetupRefusal) in
            let supported = hv_kvm_check_extension(vm, Int(HV_KVM_CAP_GUEST_MEMFD))
            guard supported > 0 else {
                throw SetupRefusal(step: .guestMemfdCapability, errno: supported < 0 ? -supported : nil, detail: "KVM_CAP_GUEST_MEMFD is \(supported)")
            }
            let flags = hv_kvm_check_extension(vm, Int(HV_KVM_CAP_GUEST_MEMFD_FLAGS))
            guard flags >= 0, UInt64(flags) & Self.guestMemfdFlags == Self.guestMemfdFlags else {
                throw SetupRefusal(step: .guestMemfdCapability, errno: flags < 0 ? -flags : nil,
                                   detail: "KVM_CAP_GUEST_MEMFD_FLAGS is \(hexString(UInt64(max(flags, 0)))), MMAP|INIT_SHARED (0x3) needed")
            }
            return ((), "KVM_CAP_GUEST_MEMFD, flags \(hexString(UInt64(flags)))")
        }
        for spec in plan.objects where spec.backing == .guestMemfd {
            let fd = try agent.setupStep(.createGuestMemfd) { () throws(SetupRefusal) in
                let fd = try require(.createGuestMemfd, "KVM_CREATE_GUEST_MEMFD \(spec.name)",
                                     hv_kvm_create_guest_memfd(vm, UInt64(spec.size), Self.guestMemfdFlags))
                return (fd, "\(spec.name): \(spec.size) bytes, MMAP|INIT_SHARED")
            }
            objects[spec.name] = fd
            try agent.setupStep(.fillGuestMemfd) { () throws(SetupRefusal) in
                try Self.fill(fd: fd, spec: spec)
                return ((), "\(spec.name) filled through a shared mapping")
            }
        }
    }

    static func fill(fd: Int32, spec: ObjectSpec) throws(SetupRefusal) {
        guard let address = hv_map_shared(fd, spec.size) else {
            throw SetupRefusal(step: .fillGuestMemfd, errno: errno, detail: "mmap \(spec.name): \(errnoName(errno))")
        }
        defer { _ = hv_unmap(address, spec.size) }
        var offset = 0
        while offset < spec.size {
            let count = min(MemfdObject.chunkBufferSize, spec.size - offset)
            spec.expected(offset: offset, into: UnsafeMutableRawBufferPointer(start: address + offset, count: count))
            offset += count
        }
    }
}
