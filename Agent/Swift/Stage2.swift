import CLiveUpdate

import HandoverCore

/// What the new kernel's agent took back: the session fds and one fd per preserved object.
struct Restored {
    var device: Int32
    var sessions: [String: Int32]
    var objects: [String: Int32]
    var handles: [Handle: Int32] = [:]
}

extension Handle {
    /// Retrieved after verification, not during the blackout: the guest_memfd series lets FINISH
    /// refuse while the VM file was never retrieved, which the checks test first. A vm
    /// scenario needs its VM file at once, to run the guest again.
    func retrievedLate(in plan: AgentPlan) -> Bool { self == .kvmVM && plan.devices?.vm == nil }
}

extension Agent {
    /// Retrieves every session and fd the plan preserved and says `resumed` at once: the
    /// hello (which reads the kernel log) comes after it, so it is not in the blackout. When
    /// retrieval fails the hello goes first, because the runner needs it to classify the failure.
    func restore(_ plan: AgentPlan, hello: () -> Hello) -> Restored? {
        let started = Machine.microseconds
        let device = hv_open("/dev/liveupdate", O_RDWR | O_CLOEXEC)
        guard device >= 0 else {
            let error = SystemError(call: "open /dev/liveupdate", errno: errno)
            port.send(.hello(hello()))
            fail(.openLiveUpdate, error)
            return nil
        }
        var restored = Restored(device: device, sessions: [:], objects: [:])
        do {
            for session in plan.sessions {
                var sessionFD: Int32 = -1
                try check("LIVEUPDATE_IOCTL_RETRIEVE_SESSION \(session.name)", hv_luo_retrieve_session(device, session.name, &sessionFD))
                restored.sessions[session.name] = sessionFD
                for member in session.members where member.handle?.retrievedLate(in: plan) != true {
                    var fd: Int32 = -1
                    try check("LIVEUPDATE_SESSION_RETRIEVE_FD \(member.object) token \(member.token)",
                              hv_luo_retrieve_fd(sessionFD, member.token, &fd))
                    if let handle = member.handle { restored.handles[handle] = fd } else { restored.objects[member.object] = fd }
                }
            }
        } catch {
            port.send(.hello(hello()))
            fail(.retrieve, error)
            return nil
        }
        let counter = Machine.counter
        let now = counter.monotonicMicros
        port.send(.resumed(retrieved: restored.objects.count, microseconds: now - started, clock: now, counter: counter))
        if let setup = plan.devices?.vm {
            do {
                guest = try GuestVM.resume(agent: self, plan: plan, setup: setup, restored: restored)
            } catch {
                port.send(.hello(hello()))
                port.send(.failed(step: error.message.hasPrefix(setup.state) ? .vmState : .vmResume, message: error.message, errno: error.errno))
                return restored
            }
        }
        port.send(.hello(hello()))
        crashIfInjected()
        return restored
    }

    /// Fingerprints what came back and, for each chunk that differs from `before`, finds the
    /// first byte that differs from what the plan wrote.
    func verify(_ restored: Restored, plan: AgentPlan, before: [ObjectFingerprint]) {
        let vm = plan.devices?.vm
        if let vm, let guest { guest.finish(milliseconds: vm.runMilliseconds) }
        for injection in plan.injections {
            guard case .flipByte(let object, let offset) = injection, vm?.isVMObject(object) != true, let fd = restored.objects[object] else { continue }
            var byte: UInt8 = 0
            if pread(fd, &byte, 1, off_t(offset)) == 1 {
                byte = ~byte
                let written = pwrite(fd, &byte, 1, off_t(offset))
                port.send(.log(written == 1 ? "injected: flipped byte \(offset) of \(object)" : "injection failed: pwrite \(object): \(errnoName(errno))"))
            }
        }
        let started = Machine.microseconds
        var after: [ObjectFingerprint] = []
        var located: [LocatedDifference] = []
        do throws(SystemError) {
            for session in plan.sessions {
                for member in session.members where member.handle == nil {
                    guard let fd = restored.objects[member.object] else { continue }
                    let vmObject = vm?.isVMObject(member.object) == true
                    let fingerprint = try MemfdObject.fingerprint(fd: fd, object: member.object, session: session.name,
                                                                  token: member.token, chunkSize: plan.chunkSize,
                                                                  backing: plan.object(named: member.object)?.backing,
                                                                  digestContent: !vmObject)
                    after.append(fingerprint)
                    guard !vmObject else { continue }
                    guard let old = before.first(where: { $0.object == member.object }), let spec = plan.object(named: member.object) else { continue }
                    for index in 0..<fingerprint.chunks.count where index >= old.chunks.count || old.chunks[index] != fingerprint.chunks[index] {
                        if let difference = try MemfdObject.locate(fd: fd, spec: spec, chunk: index, chunkSize: plan.chunkSize) {
                            located.append(difference)
                        }
                    }
                }
            }
        } catch {
            fail(.verify, error)
            return
        }
        let bytes = plan.objects.reduce(0) { $0 + $1.size }
        step(.verify, "\(after.count) objects, \(bytes) bytes; agent peak RSS \(Machine.peakRSSKiB) KiB", started: started)
        port.send(.fingerprints(stage: stage, after))
        if !located.isEmpty { port.send(.located(located)) }
    }
}

extension Agent {
    /// A middle stage of a chain: end the retrieved sessions (FINISH, unless the checks did),
    /// then preserve the same files again under the same session names and tokens, and kexec on.
    func handOn(_ restored: Restored, plan: AgentPlan) {
        var restored = restored
        for session in plan.sessions {
            for member in session.members where member.handle?.retrievedLate(in: plan) == true && restored.handles[member.handle!] == nil {
                var fd: Int32 = -1
                if let sessionFD = restored.sessions[session.name], hv_luo_retrieve_fd(sessionFD, member.token, &fd) == 0 {
                    restored.handles[member.handle!] = fd
                }
            }
        }
        if let setup = plan.devices?.vm {
            guard guest != nil else {
                port.send(.failed(step: .vm, message: "no running guest to hand on", errno: nil))
                return
            }
            guard pauseGuest(setup) else { return }
        }
        let started = Machine.microseconds
        for (name, fd) in restored.sessions {
            let rc = hv_luo_finish(fd, 0)
            if rc != 0 && rc != -ENOENT && !plan.checks {
                port.send(.log("FINISH \(name) before handing on: \(errnoName(-rc))"))
            }
            close(fd)
        }
        close(restored.device)
        step(.finish, "\(restored.sessions.count) sessions ended before handing on", started: started)
        preserveAndKexec(plan, objects: restored.objects, handles: restored.handles)
    }
}
