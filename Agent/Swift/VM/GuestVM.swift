import CLiveUpdate

import HandoverCore

/// The agent as a small VMM: a KVM VM inside this guest whose RAM is a preserved object, one
/// vCPU running the GuestProgram, paused before the kexec and resumed after it from the state
/// saved in the state memfd. A real VMM's order: stop entering KVM_RUN, complete the pending
/// exit, save the vCPU, preserve, kexec; then retrieve, rebuild the VM, restore, run.
final class GuestVM {
    let agent: Agent
    let setup: GuestVMSetup
    let spec: ObjectSpec
    let program: GuestProgram
    let ram: UnsafeMutableRawPointer
    let stateFD: Int32
    let vcpu: VCPU
    /// The counter the guest reported at its last exit (the guest's EBX is its low 32 bits).
    var counter: UInt64
    var stageStart: UInt64
    var exits = 0
    var totalExits: UInt64
    var runMicros = 0
    var rebuildMicros: Int?
    var restored: GuestRestore?
    var pausedRegisters: GuestRegisters?

    var stage: Int { agent.stage }
    var backing: Backing { spec.backing ?? .memfd }

    init(agent: Agent, setup: GuestVMSetup, spec: ObjectSpec, ram: UnsafeMutableRawPointer, stateFD: Int32, vcpu: VCPU,
                 counter: UInt64, totalExits: UInt64) {
        self.agent = agent
        self.setup = setup
        self.spec = spec
        program = GuestProgram(ramBytes: spec.size, reportEvery: setup.reportEvery)
        self.ram = ram
        self.stateFD = stateFD
        self.vcpu = vcpu
        self.counter = counter
        stageStart = counter
        self.totalExits = totalExits
    }

    /// A problem of the VM itself after it was set up: a report out of sequence, an exit that is
    /// not the program's, a KVM call that failed.
    struct Fault: Error {
        var message: String
        var errno: Int32?
    }

    // MARK: Stage 1

    /// Maps the RAM object into a new VM's slot 0, loads the program and runs the vCPU to its
    /// first report. Each step is reported; a refusal says what this VM or kernel lacks.
    static func boot(agent: Agent, plan: AgentPlan, setup: GuestVMSetup, objects: [String: Int32], vm: Int32) throws(SetupRefusal) -> GuestVM {
        let spec = plan.object(named: setup.ram)!
        let ramFD = objects[setup.ram]!
        let ram = try agent.setupStep(.vmMemorySlot) { () throws(SetupRefusal) -> (UnsafeMutableRawPointer, String) in
            guard let ram = hv_map_shared(ramFD, spec.size) else {
                throw SetupRefusal(step: .vmMemorySlot, errno: errno, detail: "mmap of \(setup.ram): \(errnoName(errno))")
            }
            try slot(vm: vm, ram: ram, fd: ramFD, spec: spec, step: .vmMemorySlot)
            return (ram, "\(setup.ram) (\(spec.backing == .guestMemfd ? "guest_memfd" : "memfd"), \(spec.size) bytes) at guest-physical 0")
        }
        let program = GuestProgram(ramBytes: spec.size, reportEvery: setup.reportEvery)
        program.code.withUnsafeBytes { (ram + GuestProgram.codeAddress).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        (ram + GuestProgram.counterAddress).storeBytes(of: UInt32(0), as: UInt32.self)

        let vcpu = try agent.setupStep(.vmCreateVCPU) { () throws(SetupRefusal) -> (VCPU, String) in
            do throws(SystemError) {
                let vcpu = try VCPU.create(vm: vm)
                try check("KVM_SET_SREGS (flat 32-bit protected mode)", hv_kvm_enter_flat32(vcpu.fd))
                var start = VCPUSnapshot(registers: [UInt8](repeating: 0, count: VCPU.registersSize), specialRegisters: [], counter: 0, exits: 0)
                for (register, value) in program.startRegisters { start[register] = value }
                try check("KVM_SET_REGS", start.registers.withUnsafeBytes { hv_kvm_set_regs(vcpu.fd, $0.baseAddress) })
                return (vcpu, "vCPU 0 in 32-bit protected mode, \(program.code.count) bytes of code at \(hexString(UInt64(GuestProgram.codeAddress)))")
            } catch {
                throw SetupRefusal(step: .vmCreateVCPU, errno: error.errno, detail: error.description)
            }
        }
        let guest = GuestVM(agent: agent, setup: setup, spec: spec, ram: ram, stateFD: objects[setup.state]!, vcpu: vcpu, counter: 0, totalExits: 0)
        try agent.setupStep(.vmRun) { () throws(SetupRefusal) -> (Void, String) in
            let started = Machine.microseconds
            let exit: hv_kvm_exit
            do throws(SystemError) { exit = try vcpu.enter() } catch { throw SetupRefusal(step: .vmRun, errno: error.errno, detail: error.description) }
            guard exit.report == setup.reportEvery else {
                throw SetupRefusal(step: .vmRun, errno: nil, detail: "the first exit was \(exit.summary), not the program's report of counter \(setup.reportEvery)")
            }
            guest.noteReport(micros: Machine.microseconds - started)
            return ((), "the guest program runs: first report, counter \(setup.reportEvery)")
        }
        return guest
    }

    static func slot(vm: Int32, ram: UnsafeMutableRawPointer, fd: Int32, spec: ObjectSpec, step: SetupStep) throws(SetupRefusal) {
        let size = UInt64(spec.size)
        let rc = spec.backing == .guestMemfd
            ? hv_kvm_set_memory_guest_memfd(vm, 0, 0, size, ram, fd, 0)
            : hv_kvm_set_memory(vm, 0, 0, size, ram)
        let call = spec.backing == .guestMemfd ? "KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_GUEST_MEMFD" : "KVM_SET_USER_MEMORY_REGION"
        try require(step, call, rc)
    }

    func noteReport(micros: Int) {
        counter &+= UInt64(setup.reportEvery)
        exits += 1
        totalExits += 1
        runMicros += micros
    }

    /// Keeps the guest running for `milliseconds`, checking that every report is the next in
    /// sequence. Returns at one of the program's exits.
    func run(milliseconds: Int) throws(Fault) {
        let deadline = Machine.microseconds + milliseconds * 1000
        repeat {
            let started = Machine.microseconds
            let exit: hv_kvm_exit
            do throws(SystemError) { exit = try vcpu.enter() } catch { throw Fault(message: error.description, errno: error.errno) }
            let expected = UInt32(truncatingIfNeeded: counter &+ UInt64(setup.reportEvery))
            guard let value = exit.report else {
                throw Fault(message: "the guest stopped running its program: \(exit.summary) after counter \(counter)")
            }
            guard value == expected else { throw Fault(message: "the guest reported counter \(value), expected \(expected)") }
            noteReport(micros: Machine.microseconds - started)
        } while Machine.microseconds < deadline
    }

    /// Stops the vCPU at the exit it is in (say so first: this is where the VM's blackout
    /// begins), completes that exit and writes the vCPU's state into the state memfd.
    func pauseForHandover() throws(Fault) {
        agent.port.send(.vcpuStopped(GuestSample(stage: stage, counter: counter, exits: exits, clock: Machine.microseconds)))
        let started = Machine.microseconds
        let snapshot = try stop()
        pausedRegisters = GuestRegisters(snapshot)
        let bytes = snapshot.encoded()
        let written = bytes.withUnsafeBytes { pwrite(stateFD, $0.baseAddress, $0.count, 0) }
        guard written == bytes.count else {
            throw Fault(message: "writing the vCPU state into \(setup.state): \(written < 0 ? errnoName(errno) : "short write")", errno: written < 0 ? errno : nil)
        }
        agent.port.send(.step(StepReport(stage: stage, step: .setup(.vmPause), ok: true,
                                         detail: "vCPU stopped at counter \(counter) (RIP \(hexString(snapshot[.rip]))); \(bytes.count) bytes of state in \(setup.state)",
                                         microseconds: Machine.microseconds - started)))
        agent.port.send(.vm(report()))
    }

    /// Completes the pending exit and reads the vCPU's state, which must agree with the
    /// counter the guest last reported.
    func stop() throws(Fault) -> VCPUSnapshot {
        let registers: [UInt8], special: [UInt8]
        do throws(SystemError) {
            try vcpu.completePendingExit()
            (registers, special) = try vcpu.state()
        } catch {
            throw Fault(message: error.description, errno: error.errno)
        }
        let snapshot = VCPUSnapshot(registers: registers, specialRegisters: special, counter: counter, exits: totalExits)
        guard snapshot[.rbx] & 0xffff_ffff == counter & 0xffff_ffff else {
            throw Fault(message: "the paused vCPU's counter register is \(snapshot[.rbx]), the guest last reported \(counter)")
        }
        return snapshot
    }

    /// A new stage begins at the guest's first report after a resume.
    func restartStage(counter: UInt64, micros: Int) {
        stageStart = counter &- UInt64(setup.reportEvery)
        self.counter = counter
        exits = 1
        runMicros = micros
    }

    func report(ram digest: GuestRAMDigest? = nil) -> VMStageReport {
        VMStageReport(stage: stage, backing: backing, ramBytes: spec.size, counterStart: stageStart, counterEnd: counter, exits: exits,
                      runMicros: runMicros, rebuildMicros: rebuildMicros, restored: restored, pausedRegisters: pausedRegisters,
                      ram: digest, nested: Self.nestedSetting())
    }

    static func nestedSetting() -> String? {
        for module in ["kvm_amd", "kvm_intel"] {
            if let value = Files.read("/sys/module/\(module)/parameters/nested")?.trimmed { return "\(module) nested=\(value)" }
        }
        return nil
    }
}
