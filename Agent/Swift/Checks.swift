import CLiveUpdate

import HandoverCore

/// The promises /dev/liveupdate makes about retrieval and FINISH, checked in the new kernel
/// after verification. Each check reports what was expected and what the kernel did.
struct Checks {
    let plan: AgentPlan
    let restored: Restored

    func run() -> [CheckResult] {
        let (deviceResults, finishedByDevices) = DeviceChecks(plan: plan, restored: restored).run()
        guard let session = plan.sessions.first(where: { $0.members.contains { $0.handle == nil } && !finishedByDevices.contains($0.name) }),
              let sessionFD = restored.sessions[session.name],
              let member = session.members.first(where: { $0.handle == nil }) else { return deviceResults }
        var results: [CheckResult] = deviceResults
        let tokens = Set(plan.sessions.flatMap { $0.members.map { $0.token } })
        var unknownToken: UInt64 = 0xdead_0000_0000_0001
        while tokens.contains(unknownToken) { unknownToken += 1 }

        func expectErrno(_ check: Check, _ expected: Int32, _ rc: Int32) {
            results.append(CheckResult(check, passed: rc == -expected, expected: errnoName(expected),
                                       observed: rc < 0 ? errnoName(-rc) : "success (\(rc))"))
        }

        var fd: Int32 = -1
        expectErrno(.retrieveUnknownToken, ENOENT, hv_luo_retrieve_fd(sessionFD, unknownToken, &fd))

        var again: Int32 = -1
        let rc = hv_luo_retrieve_fd(sessionFD, member.token, &again)
        if rc == 0, let first = restored.objects[member.object] {
            var a = stat(), b = stat()
            fstat(first, &a)
            fstat(again, &b)
            let same = a.st_ino == b.st_ino && a.st_dev == b.st_dev
            results.append(CheckResult(.retrieveTokenTwiceSameFile, passed: same, expected: "the same file (inode \(a.st_ino))",
                                       observed: "inode \(b.st_ino)"))
            close(again)
        } else {
            results.append(CheckResult(.retrieveTokenTwiceSameFile, passed: false, expected: "the same file",
                                       observed: rc < 0 ? errnoName(-rc) : "no first fd"))
        }

        var unknownSession: Int32 = -1
        expectErrno(.retrieveUnknownSession, ENOENT, hv_luo_retrieve_session(restored.device, "handover-no-such-session", &unknownSession))
        expectErrno(.finishNonzeroReserved, EINVAL, hv_luo_finish(sessionFD, 1))

        var finished = true
        for spec in plan.sessions where !finishedByDevices.contains(spec.name) {
            guard let fd = restored.sessions[spec.name] else { continue }
            let rc = hv_luo_finish(fd, 0)
            if rc != 0 { finished = false }
            results.append(CheckResult(.finishSession(spec.name), passed: rc == 0, expected: "success",
                                       observed: rc == 0 ? "success" : errnoName(-rc)))
        }
        if finished {
            var after: Int32 = -1
            expectErrno(.retrieveAfterFinish, ENOENT, hv_luo_retrieve_fd(sessionFD, member.token, &after))
        }
        return results
    }
}
