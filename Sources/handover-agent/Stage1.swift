import CLiveUpdate
import Glibc
import HandoverCore

extension Agent {
    /// Creates (in stage 1) or takes over (in a middle stage of a chain) the objects,
    /// fingerprints them, preserves them session by session, loads the next kernel and kexecs
    /// into it while still holding every session fd.
    func preserveAndKexec(_ plan: AgentPlan, objects existing: [String: Int32]?) {
        guard Files.exists("/dev/liveupdate") else {
            port.send(.unsupported(reason: "kernel \(Machine.release) has no /dev/liveupdate (LUO not built in, or not enabled with liveupdate=on)", errno: ENOENT))
            return
        }
        guard stage - 1 < plan.hops.count else {
            port.send(.failed(step: "plan", message: "stage \(stage) has no next kernel in the plan", errno: nil))
            return
        }
        let next = plan.hops[stage - 1]

        var started = Machine.microseconds
        var fds: [String: Int32] = existing ?? [:]
        let totalBytes = plan.objects.reduce(0) { $0 + $1.size }
        if existing == nil {
            do {
                for spec in plan.objects { fds[spec.name] = try MemfdObject.create(spec) }
            } catch {
                fail("create", error)
                return
            }
            step("create", "\(plan.objects.count) memfds, \(totalBytes) bytes", started: started)
        }

        if existing == nil {
            started = Machine.microseconds
            var fingerprints: [ObjectFingerprint] = []
            do {
                for session in plan.sessions {
                    for member in session.members {
                        fingerprints.append(try MemfdObject.fingerprint(
                            fd: fds[member.object]!, object: member.object, session: session.name, token: member.token, chunkSize: plan.chunkSize))
                    }
                }
            } catch {
                fail("fingerprint", error)
                return
            }
            step("fingerprint", "\(fingerprints.count) objects, \(totalBytes) bytes", started: started)
            port.send(.fingerprints(stage: stage, fingerprints))
        }

        started = Machine.microseconds
        let device = open("/dev/liveupdate", O_RDWR | O_CLOEXEC)
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
                    try check("LIVEUPDATE_SESSION_PRESERVE_FD \(member.object) token \(member.token)",
                              hv_luo_preserve_fd(sessionFD, fds[member.object]!, member.token))
                }
            } catch {
                fail("preserve", error)
                return
            }
        }
        step("preserve", "\(plan.sessions.count) sessions, \(plan.sessions.reduce(0) { $0 + $1.members.count }) fds", started: started)
        crashIfInjected()

        kexecNext(next)
        withExtendedLifetime(sessionFDs) {}
    }

    /// Loads the next kernel, says quiesce and kexecs. Returns only if that failed.
    func kexecNext(_ next: Hop) {
        let started = Machine.microseconds
        let kernel = open(next.kernel, O_RDONLY | O_CLOEXEC)
        let initrd = open(next.initrd, O_RDONLY | O_CLOEXEC)
        guard kernel >= 0, initrd >= 0 else {
            fail("kexec-load", SystemError(call: "open \(kernel < 0 ? next.kernel : next.initrd)", errno: errno))
            return
        }
        do {
            try check("kexec_file_load \(next.kernel)", hv_kexec_file_load(kernel, initrd, next.cmdline))
        } catch {
            fail("kexec-load", error)
            return
        }
        close(kernel)
        close(initrd)
        step("kexec-load", "\(next.kernel) with '\(next.cmdline)'", started: started)

        port.send(.quiesce)
        let rc = hv_reboot(hv_reboot_cmd_kexec())
        // Only reached when the kexec did not happen.
        fail("kexec", SystemError(call: "reboot(LINUX_REBOOT_CMD_KEXEC)", errno: -rc))
    }
}
