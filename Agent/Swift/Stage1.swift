import CLiveUpdate

import HandoverCore

extension Agent {
    /// Creates (in stage 1) or takes over (in a middle stage of a chain) the objects,
    /// fingerprints them, preserves them session by session, loads the next kernel and kexecs
    /// into it while still holding every session fd.
    func preserveAndKexec(_ plan: AgentPlan, objects existing: [String: Int32]?, handles existingHandles: [Handle: Int32] = [:]) {
        guard Files.exists("/dev/liveupdate") else {
            port.send(.unsupported(reason: "kernel \(Machine.release) has no /dev/liveupdate (LUO not built in, or not enabled with liveupdate=on)", errno: ENOENT))
            return
        }
        guard stage - 1 < plan.hops.count else {
            port.send(.failed(step: .plan, message: "stage \(stage) has no next kernel in the plan", errno: nil))
            return
        }
        let next = plan.hops[stage - 1]

        var started = Machine.microseconds
        var fds: [String: Int32] = existing ?? [:]
        var handles = existingHandles
        let totalBytes = plan.objects.reduce(0) { $0 + $1.size }
        if existing == nil {
            let memfds = plan.objects.filter { $0.backing == nil }
            do {
                for spec in memfds { fds[spec.name] = try MemfdObject.create(spec) }
            } catch {
                fail(.create, error)
                return
            }
            if !memfds.isEmpty {
                step(.create, "\(memfds.count) memfds, \(memfds.reduce(0) { $0 + $1.size }) bytes", started: started)
            }
            if let devices = plan.devices {
                guard let created = setUpDevices(devices, plan: plan, objects: &fds) else { return }
                handles = created
                if let setup = devices.vm {
                    guard startGuest(setup, plan: plan, objects: fds, vm: handles[.kvmVM]!) else { return }
                }
            }
        }

        if existing == nil {
            started = Machine.microseconds
            var fingerprints: [ObjectFingerprint] = []
            do throws(SystemError) {
                for session in plan.sessions {
                    for member in session.members {
                        guard member.handle == nil else { continue }
                        fingerprints.append(try MemfdObject.fingerprint(
                            fd: fds[member.object]!, object: member.object, session: session.name, token: member.token,
                            chunkSize: plan.chunkSize, backing: plan.object(named: member.object)?.backing,
                            digestContent: plan.devices?.vm?.isVMObject(member.object) != true))
                    }
                }
            } catch {
                fail(.fingerprint, error)
                return
            }
            step(.fingerprint, "\(fingerprints.count) objects, \(totalBytes) bytes", started: started)
            port.send(.fingerprints(stage: stage, fingerprints))
        }

        started = Machine.microseconds
        let device = hv_open("/dev/liveupdate", O_RDWR | O_CLOEXEC)
        guard device >= 0 else {
            let error = SystemError(call: "open /dev/liveupdate", errno: errno)
            port.send(.unsupported(reason: "kernel \(Machine.release): \(error.description)", errno: error.errno))
            return
        }
        var sessionFDs: [Int32] = []
        for session in plan.sessions {
            var sessionFD: Int32 = -1
            do {
                try check("LIVEUPDATE_IOCTL_CREATE_SESSION \(session.name)", hv_luo_create_session(device, session.name, &sessionFD))
                sessionFDs.append(sessionFD)
                for member in session.members {
                    let fd = member.handle.map { handles[$0]! } ?? fds[member.object]!
                    let rc = hv_luo_preserve_fd(sessionFD, fd, member.token)
                    if rc < 0, let refused = deviceFile(member, plan: plan) {
                        preserveRefused(fileType: refused.type, series: refused.series, member: member, session: session.name, errno: -rc, plan: plan)
                        return
                    }
                    try check("LIVEUPDATE_SESSION_PRESERVE_FD \(member.object) token \(member.token)", rc)
                }
            } catch {
                fail(.preserve, error)
                return
            }
        }
        step(.preserve, "\(plan.sessions.count) sessions, \(plan.sessions.reduce(0) { $0 + $1.members.count }) fds", started: started)
        crashIfInjected()
        if let devices = plan.devices, existing == nil, !checkFrozen(devices, plan: plan, objects: fds) { return }

        kexecNext(next)
        withExtendedLifetime(sessionFDs) {}
    }

    /// Boots the vm scenario's guest, lets it run, and pauses it with its state saved: what a
    /// VMM does before it preserves a VM's memory.
    func startGuest(_ setup: GuestVMSetup, plan: AgentPlan, objects: [String: Int32], vm: Int32) -> Bool {
        do {
            guest = try GuestVM.boot(agent: self, plan: plan, setup: setup, objects: objects, vm: vm)
        } catch {
            reportRefusal(error)
            return false
        }
        return pauseGuest(setup)
    }

    func pauseGuest(_ setup: GuestVMSetup) -> Bool {
        do {
            try guest!.run(milliseconds: setup.runMilliseconds)
            try guest!.pauseForHandover()
            return true
        } catch {
            port.send(.failed(step: .vm, message: error.message, errno: error.errno))
            return false
        }
    }

    /// The file type of a device scenario's member and the series whose handler takes it, for
    /// telling "no handler" from a failure.
    func deviceFile(_ member: SessionSpec.Member, plan: AgentPlan) -> (type: String, series: SeriesRevision)? {
        if let handle = member.handle { return (handle.fileType, SeriesRevision.handling(handle)) }
        if let backing = plan.object(named: member.object)?.backing, let series = SeriesRevision.handling(backing) { return ("guest_memfd", series) }
        return nil
    }

    /// PRESERVE_FD refused a device file: unsupported when no handler exists for the type,
    /// a failure when the kernel carries the series that should take it.
    func preserveRefused(fileType: String, series: SeriesRevision, member: SessionSpec.Member, session: String, errno: Int32, plan: AgentPlan) {
        let carried = plan.devices?.carries(series) ?? false
        port.send(.step(StepReport(stage: stage, step: .preserveHandle, ok: false,
                                   detail: "SESSION_PRESERVE_FD of the \(fileType) '\(member.object)' (session \(session), token \(member.token))",
                                   errno: errno, errnoName: errnoName(errno))))
        switch SetupPolicy.preserveRefused(fileType: fileType, errno: errno, errnoName: errnoName(errno), release: Machine.release,
                                           seriesCarried: carried) {
        case .unsupported(let reason):
            port.send(.unsupported(reason: reason, errno: errno))
        default:
            port.send(.failed(step: .preserve, message: "SESSION_PRESERVE_FD of the \(fileType) '\(member.object)' on a kernel carrying \(series.rawValue): \(errnoName(errno))", errno: errno))
        }
    }

    /// Loads the next kernel, says quiesce and kexecs. Returns only if that failed.
    func kexecNext(_ next: Hop) {
        let started = Machine.microseconds
        let kernel = hv_open(next.kernel, O_RDONLY | O_CLOEXEC)
        let initrd = hv_open(next.initrd, O_RDONLY | O_CLOEXEC)
        guard kernel >= 0, initrd >= 0 else {
            fail(.kexecLoad, SystemError(call: "open \(kernel < 0 ? next.kernel : next.initrd)", errno: errno))
            return
        }
        do {
            try check("kexec_file_load \(next.kernel)", hv_kexec_file_load(kernel, initrd, next.cmdline))
        } catch {
            fail(.kexecLoad, error)
            return
        }
        close(kernel)
        close(initrd)
        step(.kexecLoad, "\(next.kernel) with '\(next.cmdline)'", started: started)

        port.send(.quiesce(counter: Machine.counter))
        let rc = hv_reboot(hv_reboot_cmd_kexec())
        // Only reached when the kexec did not happen.
        fail(.kexec, SystemError(call: "reboot(LINUX_REBOOT_CMD_KEXEC)", errno: -rc))
    }
}
