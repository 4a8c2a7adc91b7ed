import CLiveUpdate

import HandoverCore

extension GuestVM {
    /// In the new kernel: rebuilds the VM around the retrieved RAM (a new VM for a memfd, the
    /// retrieved VM file for a guest_memfd), restores the vCPU from the state memfd and runs it
    /// to its first exit, which is where the VM's blackout ends (said at once). Then checks
    /// that the guest continued exactly where it stopped.
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
        let vcpu = try rebuilding { () throws(SystemError) -> VCPU in
            let vcpu = try VCPU.create(vm: vm)
            try vcpu.restore(registers: snapshot.registers, special: snapshot.specialRegisters)
            return vcpu
        }

        let guest = GuestVM(agent: agent, setup: setup, spec: spec, ram: ram, stateFD: stateFD, vcpu: vcpu,
                            counter: snapshot.counter, totalExits: snapshot.exits)
        let entered = Machine.microseconds
        let exit: hv_kvm_exit
        do throws(SystemError) { exit = try vcpu.enter() } catch { throw Fault(message: "the first KVM_RUN after the resume: \(error.description)", errno: error.errno) }
        let now = Machine.microseconds
        guard let value = exit.report else {
            throw Fault(message: "the restored guest did not run its program: its first exit was \(exit.summary)")
        }
        agent.port.send(.vcpuRunning(GuestSample(stage: agent.stage, counter: UInt64(value), exits: 1, clock: now)))
        guest.resumed(firstReport: value, micros: now - entered, rebuildMicros: now - started, pausedAt: snapshot.counter)
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

    /// The first report after the resume must be the next one after the pause, and the
    /// guest's cursor register and in-memory counter must agree with it.
    private func resumed(firstReport value: UInt32, micros: Int, rebuildMicros: Int, pausedAt: UInt64) {
        let observed = (pausedAt & ~0xffff_ffff) | UInt64(value)
        let registers = try? vcpu.state().registers
        let cursor = registers.map { VCPUSnapshot(registers: $0, specialRegisters: [], counter: 0, exits: 0)[.rcx] & 0xffff_ffff } ?? UInt64.max
        let inMemory = UInt64((ram + GuestProgram.counterAddress).load(as: UInt32.self))
        continuity = GuestContinuity(counterAtPause: pausedAt, expectedCounter: pausedAt &+ UInt64(setup.reportEvery), observedCounter: observed,
                                     expectedCursor: program.cursor(atCounter: observed), observedCursor: cursor,
                                     counterInMemory: (observed & ~0xffff_ffff) | inMemory)
        self.rebuildMicros = rebuildMicros
        restartStage(counter: observed, micros: micros)
    }

    /// Verification in the last stage: lets the guest run on, stops it, and compares every byte
    /// of its RAM with what the fill and the program must have put there by its counter.
    func finish(milliseconds: Int) {
        do {
            try run(milliseconds: milliseconds)
            _ = try stop()
        } catch {
            agent.port.send(.failed(step: .vm, message: error.message, errno: error.errno))
            return
        }
        let started = Machine.microseconds
        let check = checkRAM()
        agent.port.send(.step(StepReport(stage: stage, step: .vmVerifyRAM, ok: check.ok,
                                         detail: "\(check.bytes) bytes of guest RAM against the program's model at counter \(check.counter)",
                                         microseconds: Machine.microseconds - started)))
        agent.port.send(.vm(report(ram: check)))
    }

    func checkRAM() -> GuestRAMCheck {
        let chunk = MemfdObject.chunkBufferSize
        var expected = [UInt8](repeating: 0, count: chunk)
        var differing = 0
        var first: (address: Int, expected: UInt8, found: UInt8)?
        var offset = 0
        while offset < spec.size {
            let count = min(chunk, spec.size - offset)
            expected.withUnsafeMutableBytes { buffer in
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
                MemfdObject.expected(spec, offset: offset, into: slice)
                program.overlay(slice, start: offset, counter: counter)
                let actual = ram + offset
                guard memcmp(slice.baseAddress!, actual, count) != 0 else { return }
                for index in 0..<count where slice[index] != actual.load(fromByteOffset: index, as: UInt8.self) {
                    differing += 1
                    if first == nil { first = (offset + index, slice[index], actual.load(fromByteOffset: index, as: UInt8.self)) }
                }
            }
            offset += count
        }
        return GuestRAMCheck(bytes: spec.size, differingBytes: differing, firstDifference: first.map { UInt64($0.address) },
                             expected: first?.expected, found: first?.found, counter: counter)
    }
}
