import CLiveUpdate

import HandoverCore

extension GuestVM {
    /// In the new kernel: rebuilds the VM around the retrieved RAM (a new VM for a memfd, the
    /// retrieved VM file for a guest_memfd), restores the vCPU from the state memfd and runs it
    /// to its first exit, which is where the VM's blackout ends (said at once). What it restored
    /// is reported as seen; the runner judges whether the guest continued where it stopped.
    static func resume(agent: Agent, plan: AgentPlan, setup: GuestVMSetup, restored: Restored) throws(Fault) -> GuestVM {
        let started = Machine.microseconds
        let spec = plan.object(named: setup.ram)!
        guard let ramFD = restored.objects[setup.ram], let stateFD = restored.objects[setup.state] else {
            throw Fault(message: "the guest's RAM or state was not retrieved")
        }
        guard let ram = hv_map_shared(ramFD, spec.size) else { throw Fault(message: "mmap of the retrieved \(setup.ram): \(errnoName(errno))", errno: errno) }
        injectFlips(agent: agent, plan: plan, setup: setup, ram: ram, stateFD: stateFD)

        var saved = [UInt8](repeating: 0, count: 4096)
        let count = saved.withUnsafeMutableBytes { pread(stateFD, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw Fault(message: "reading the vCPU state from \(setup.state): \(count < 0 ? errnoName(errno) : "empty")") }
        var snapshot: VCPUSnapshot
        do {
            snapshot = try VCPUSnapshot.decode(Array(saved[0..<count]), registersSize: VCPU.registersSize, specialRegistersSize: VCPU.specialRegistersSize)
        } catch {
            throw Fault(message: "\(setup.state): \(error.description)")
        }
        if plan.injections.contains(.corruptVCPU(stage: agent.stage)) {
            snapshot[.rip] -= 1
            agent.port.send(.log("injected: the vCPU's RIP set back to the port write at \(hexString(snapshot[.rip]))"))
        }

        func rebuilding<T>(_ body: () throws(SystemError) -> T) throws(Fault) -> T {
            do throws(SystemError) { return try body() } catch {
                throw Fault(message: "rebuilding the VM in \(Machine.release): \(error.description)", errno: error.errno)
            }
        }
        let vm: Int32
        if spec.backing == .guestMemfd {
            guard let retrieved = restored.handles[.kvmVM] else { throw Fault(message: "the KVM VM file was not retrieved") }
            vm = retrieved
        } else {
            vm = try rebuilding { () throws(SystemError) -> Int32 in
                let kvm = try checkLibc("open /dev/kvm", hv_open("/dev/kvm", O_RDWR | O_CLOEXEC))
                defer { close(kvm) }
                return try check("KVM_CREATE_VM", hv_kvm_create_vm(kvm, 0))
            }
        }
        do throws(SetupRefusal) { try slot(vm: vm, ram: ram, fd: ramFD, spec: spec, step: .vmMemorySlot) } catch { throw Fault(message: error.detail, errno: error.errno) }
        let (vcpu, readBack) = try rebuilding { () throws(SystemError) -> (VCPU, [UInt8]) in
            let vcpu = try VCPU.create(vm: vm)
            try vcpu.restore(registers: snapshot.registers, special: snapshot.specialRegisters)
            return (vcpu, try vcpu.state().registers)
        }
        let counterInMemory = (ram + GuestProgram.counterAddress).load(as: UInt32.self)

        let guest = GuestVM(agent: agent, setup: setup, spec: spec, ram: ram, stateFD: stateFD, vcpu: vcpu,
                            counter: snapshot.counter, totalExits: snapshot.exits)
        guest.restored = GuestRestore(snapshotCounter: snapshot.counter,
                                      registers: GuestRegisters(VCPUSnapshot(registers: readBack, specialRegisters: [], counter: 0, exits: 0)),
                                      counterInMemory: counterInMemory)
        let entered = Machine.microseconds
        let exit: hv_kvm_exit
        do throws(SystemError) { exit = try vcpu.enter() } catch { throw Fault(message: "the first KVM_RUN after the resume: \(error.description)", errno: error.errno) }
        let now = Machine.microseconds
        guard let value = exit.report else {
            throw Fault(message: "the restored guest did not run its program: its first exit was \(exit.summary)")
        }
        agent.port.send(.vcpuRunning(GuestSample(stage: agent.stage, counter: UInt64(value), exits: 1, clock: now)))
        guest.rebuildMicros = now - started
        guest.restartStage(counter: (snapshot.counter & ~0xffff_ffff) | UInt64(value), micros: now - entered)
        return guest
    }

    private static func injectFlips(agent: Agent, plan: AgentPlan, setup: GuestVMSetup, ram: UnsafeMutableRawPointer, stateFD: Int32) {
        for injection in plan.injections {
            guard case .flipByte(let object, let offset) = injection, setup.isVMObject(object) else { continue }
            if object == setup.ram {
                let byte = ram.load(fromByteOffset: offset, as: UInt8.self)
                ram.storeBytes(of: ~byte, toByteOffset: offset, as: UInt8.self)
                agent.port.send(.log("injected: flipped the byte at guest-physical \(hexString(UInt64(offset))) of \(object)"))
            } else {
                var byte: UInt8 = 0
                let done = pread(stateFD, &byte, 1, off_t(offset)) == 1 && { byte = ~byte; return pwrite(stateFD, &byte, 1, off_t(offset)) == 1 }()
                agent.port.send(.log(done ? "injected: flipped byte \(offset) of \(object)" : "injection failed: \(object): \(errnoName(errno))"))
            }
        }
    }

    /// Verification in the last stage: lets the guest run on, stops it, and reads its RAM: a
    /// digest per chunk for the runner, and the first byte that differs from the program's model.
    func finish(milliseconds: Int) {
        do {
            try run(milliseconds: milliseconds)
            _ = try stop()
        } catch {
            agent.port.send(.failed(step: .vm, message: error.message, errno: error.errno))
            return
        }
        let started = Machine.microseconds
        let digest = readRAM()
        agent.port.send(.step(StepReport(stage: stage, step: .vmVerifyRAM, ok: true,
                                         detail: "\(digest.bytes) bytes of guest RAM digested at counter \(digest.counter)",
                                         microseconds: Machine.microseconds - started)))
        agent.port.send(.vm(report(ram: digest)))
    }

    func readRAM() -> GuestRAMDigest {
        let chunk = GuestRAMDigest.defaultChunkSize
        var expected = [UInt8](repeating: 0, count: chunk)
        var chunks: [String] = []
        var differing = 0
        var first: (address: Int, expected: UInt8, found: UInt8)?
        var offset = 0
        while offset < spec.size {
            let count = min(chunk, spec.size - offset)
            let actual = ram + offset
            chunks.append(SHA256Digester.hex(of: UnsafeRawBufferPointer(start: actual, count: count)))
            expected.withUnsafeMutableBytes { buffer in
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
                spec.expected(offset: offset, into: slice)
                program.overlay(slice, start: offset, counter: counter)
                guard memcmp(slice.baseAddress!, actual, count) != 0 else { return }
                for index in 0..<count where slice[index] != actual.load(fromByteOffset: index, as: UInt8.self) {
                    differing += 1
                    if first == nil { first = (offset + index, slice[index], actual.load(fromByteOffset: index, as: UInt8.self)) }
                }
            }
            offset += count
        }
        let located = first.map { GuestRAMDifference(address: UInt64($0.address), expected: $0.expected, found: $0.found, differingBytes: differing) }
        return GuestRAMDigest(bytes: spec.size, counter: counter, chunkSize: chunk, chunks: chunks, firstDifference: located)
    }
}
