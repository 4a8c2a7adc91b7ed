import Foundation
import HandoverCore
import HandoverImages
import HandoverResults

extension RunTracker {
    static func blackout(of hop: Hop) -> Blackout? {
        guard let quiesce = hop.quiesce, let resumed = hop.resumed else { return nil }
        let total = resumed.time.seconds - quiesce.seconds
        let agentZero = resumed.time.seconds - Double(resumed.clockMicros) / 1e6
        // The new kernel's first console line, or with a quiet console the agent's clock.
        let kernelZero = hop.consoleClock.firstLine ?? agentZero
        let runInitMicros = hop.hello?.bootMarks[.runInit]
        let runInit = runInitMicros.map { Double($0) / 1e6 }
        let restore = Double(resumed.restoreMicros) / 1e6
        let restoreStart = Double(resumed.clockMicros - resumed.restoreMicros) / 1e6
        let shutdown = kernelZero - quiesce.seconds
        func host(_ micros: Int) -> Double {
            hop.consoleClock.host(atPrintk: Double(micros) / 1e6) ?? agentZero + Double(micros) / 1e6
        }
        // On the host clock: the printk clock may have counted too slowly early on.
        let kernelBoot = runInitMicros.map { host($0) - kernelZero }
        var agentStart = runInit.map { restoreStart - $0 }
        // arm64 (issue 20): the new kernel's CLOCK_MONOTONIC (the agent's clock) runs on jiffies
        // until the arch timer becomes the clocksource at fs_initcall, and under TCG lags the
        // printk clock by a few hundred ms (agent start came out negative): there the agent's
        // start is taken on the host clock, from /init's console line to the restore's start.
        let hostAgentStart = hop.to.arch == .arm64 && !hop.consoleClock.points.isEmpty
        if hostAgentStart, let runInitMicros { agentStart = (resumed.time.seconds - restore) - host(runInitMicros) }
        let accounted = shutdown + (kernelBoot ?? 0) + (agentStart ?? restoreStart) + restore
        var blackout = Blackout(total: total, shutdown: shutdown, kernelBoot: kernelBoot, agentStart: agentStart, restore: restore,
                                unaccounted: total - accounted)
        blackout.clock = .host
        if let kernelBoot, let runInit { blackout.printkClockLag = kernelBoot - runInit }
        if let started = hop.kexecStarted, started.seconds <= kernelZero {
            blackout.oldKernel = started.seconds - quiesce.seconds
            blackout.jump = kernelZero - started.seconds
        }
        if let marks = hop.hello?.bootMarks, let start = marks[.unpackStart], let end = marks[.unpackEnd], end >= start {
            blackout.initramfsUnpack = host(end) - host(start)
        }
        if let hello = hop.hello, let runInitMicros, let recorded = hello.initcalls {
            let initcalls = InitcallNames.load(hop.to)?.resolve(recorded) ?? recorded
            blackout.kernelBootSteps = BootAttribution.steps(initcalls: initcalls, marks: hello.bootMarks, runInit: runInitMicros,
                                                             zero: kernelZero, host: host)
        }
        // Without the console the split rests on the guest's clocks alone and nothing checks
        // it against the host's: no share is claimed then.
        // With the agent's start on the host clock (arm64) the phases add up by construction: no
        // share is claimed either.
        if total > 0, !hop.consoleClock.points.isEmpty, !hostAgentStart { blackout.attributedShare = max(0, 1 - abs(total - accounted) / total) }
        return blackout
    }

    /// The blackout on the guest's own clock (guest timing): the counter at quiesce → the
    /// counter after the last retrieve, in virtual seconds. Every phase is on the guest's
    /// clocks: each kernel's hello anchors the counter on that kernel's printk clock (a record
    /// the agent wrote to /dev/kmsg right after reading the counter), so the old kernel's
    /// printk time of "Starting new kernel" and the new kernel's of "Run /init" split it.
    /// Without anchors (an older agent) each kernel's monotonic clock stands in for its printk
    /// clock. The phases add up to the total by construction; what is checked is that none
    /// comes out negative, which is what a counter reset by the kexec, or clocks placed wrongly,
    /// would show. Nil when a reading is missing or the counter went backwards.
    static func guestBlackout(of hop: Hop, oldHello: Hello?) -> Blackout? {
        guard let quiesce = hop.quiesceCounter, let resumed = hop.resumedCounter, let restoreMicros = hop.resumed?.restoreMicros,
              quiesce.hertz == resumed.hertz, resumed.ticks > quiesce.ticks else { return nil }
        let hertz = Double(resumed.hertz ?? 1_000_000_000)
        func seconds(_ ticks: UInt64) -> Double { Double(ticks) / hertz }
        /// Where a kernel's printk clock reads zero, on the counter.
        func zero(_ reading: CounterReading, anchor: CounterReading?) -> Double {
            if let anchor, anchor.hertz == reading.hertz, let printk = anchor.printkMicros { return seconds(anchor.ticks) - Double(printk) / 1e6 }
            return seconds(reading.ticks) - Double(reading.monotonicMicros) / 1e6
        }
        let oldZero = zero(quiesce, anchor: oldHello?.counter)
        let newZero = zero(resumed, anchor: hop.hello?.counter)
        let total = seconds(resumed.ticks) - seconds(quiesce.ticks)
        let restore = Double(restoreMicros) / 1e6
        // Quiesce → the new kernel's printk zero.
        let shutdown = newZero - seconds(quiesce.ticks)
        let restoreStart = seconds(resumed.ticks) - newZero - restore
        var blackout = Blackout(total: total, shutdown: shutdown, restore: restore)
        blackout.clock = .guest
        var phases = [shutdown, restore]
        if let started = hop.kexecStartedPrintk {
            let oldKernel = started - (seconds(quiesce.ticks) - oldZero)
            blackout.oldKernel = oldKernel
            blackout.jump = shutdown - oldKernel
            phases += [oldKernel, shutdown - oldKernel]
        }
        if let runInitMicros = hop.hello?.bootMarks[.runInit] {
            let runInit = Double(runInitMicros) / 1e6
            blackout.kernelBoot = runInit
            blackout.agentStart = restoreStart - runInit
            phases += [runInit, restoreStart - runInit]
            if let hello = hop.hello, let recorded = hello.initcalls {
                let initcalls = InitcallNames.load(hop.to)?.resolve(recorded) ?? recorded
                blackout.kernelBootSteps = BootAttribution.steps(initcalls: initcalls, marks: hello.bootMarks, runInit: runInitMicros,
                                                                 zero: 0, host: { Double($0) / 1e6 })
            }
        } else {
            phases.append(restoreStart)
        }
        if let marks = hop.hello?.bootMarks, let start = marks[.unpackStart], let end = marks[.unpackEnd], end >= start {
            blackout.initramfsUnpack = Double(end - start) / 1e6
        }
        let accounted = shutdown + (blackout.kernelBoot ?? 0) + (blackout.agentStart ?? restoreStart) + restore
        blackout.unaccounted = total - accounted
        let misplaced = phases.filter { $0 < 0 }.reduce(0) { $0 - $1 }
        if total > 0 { blackout.attributedShare = max(0, 1 - (abs(total - accounted) + misplaced) / total) }
        return blackout
    }

    /// The hello of the kernel a hop leaves.
    func oldHello(ofHop index: Int) -> Hello? {
        index == 0 ? hellos.first { $0.stage == 1 } : hops[index - 1].hello
    }

    /// Compares what came back with what went in, hop by hop, and fills the result.
    package func conclude(into result: inout RunResult) {
        result.hellos = hellos
        result.steps = steps
        result.blackout = Self.blackout(of: hops[0])
        if result.timing == .guest { result.guestBlackout = Self.guestBlackout(of: hops[0], oldHello: oldHello(ofHop: 0)) }
        let vm = vmResult()
        result.vm = vm
        result.contention = hops[0].contention
        var outcome = self.outcome
        var hopResults: [HopResult] = []
        var firstMismatch: (hop: Int, objects: [ObjectResult])?
        var lastObjects: [ObjectResult] = []
        for (index, hop) in hops.enumerated() where hop.resumed != nil {
            let objects = compareObjects(hop)
            let checks = checks(for: hop, index: index)
            if firstMismatch == nil, objects.contains(where: { !$0.ok }) { firstMismatch = (index, objects) }
            lastObjects = objects
            hopResults.append(HopResult(from: hop.from.recipe, to: hop.to.recipe, toRelease: hop.to.kernelRelease,
                                        blackout: Self.blackout(of: hop), objectsIntact: objects.filter(\.ok).count,
                                        objectsTotal: objects.count, checks: checks, vmBlackout: vm?.hops[index].blackout,
                                        contention: hop.contention,
                                        guestBlackout: result.timing == .guest ? Self.guestBlackout(of: hop, oldHello: oldHello(ofHop: index)) : nil))
        }
        result.hops = hopResults
        result.objects = firstMismatch?.objects ?? lastObjects
        result.checks = hopResults.first(where: { $0.checks.contains { !$0.passed } })?.checks ?? hopResults.last?.checks ?? []
        if outcome == nil, phase == .finished {
            outcome = judge(hopResults: hopResults, mismatch: firstMismatch, vm: vm)
        }
        guard let outcome else { return }
        result.verdict = outcome.verdict
        result.failureClass = outcome.failureClass
        result.reason = outcome.reason
        result.evidence = outcome.evidence
        result.errno = outcome.errno
    }

    /// The scenario's objects (not the handles) that every stage fingerprints.
    var fingerprintedObjects: [String] {
        scenario.sessions.flatMap(\.members).filter { $0.handle == nil }.map(\.object)
    }

    /// Every scenario object stage 1 fingerprinted, against what this hop's new kernel gave back.
    /// An object stage 1 did not fingerprint is judged before this (`judge`).
    func compareObjects(_ hop: Hop) -> [ObjectResult] {
        fingerprintedObjects.compactMap { name in before.first { $0.object == name } }.map { old in
            guard let new = hop.after.first(where: { $0.object == old.object }) else {
                return ObjectResult(object: old.object, session: old.session, token: old.token, ok: false,
                                    properties: [PropertyOutcome(property: "retrieved", status: .changed, before: "preserved", after: "missing")])
            }
            var properties = FingerprintComparison.compare(before: old, after: new, reset: scenario.reset)
            if scenario.devices?.vm?.isVMObject(old.object) == true {
                // The guest changes its RAM and the next pause its state: the RAM model and the
                // restored vCPU judge their content (judgeGuest).
                properties.removeAll { $0.property == "content" }
            }
            for index in properties.indices where properties[index].property == "content" && properties[index].status == .changed {
                if let spot = hop.located.first(where: { $0.object == old.object && $0.chunk == properties[index].chunk }) {
                    properties[index].offset = spot.offset
                    properties[index].detail = String(format: "chunk %d: first differing byte at offset %d (expected 0x%02x, found 0x%02x); %d bytes differ in the chunk",
                                                      spot.chunk, spot.offset, spot.expected, spot.found, spot.differingBytes)
                }
            }
            return ObjectResult(object: old.object, session: old.session, token: old.token,
                                ok: !properties.contains { $0.status == .changed }, properties: properties)
        }
    }

    /// The agent's uAPI checks plus what the hello proves: the expected kernel runs, and its
    /// live update number went up by one.
    func checks(for hop: Hop, index: Int) -> [CheckResult] {
        var checks = hop.checks
        guard let hello = hop.hello else { return checks }
        let previous = index == 0 ? (hellos.first { $0.stage == 1 }?.liveUpdateNumber ?? 0) : (hops[index - 1].hello?.liveUpdateNumber ?? 0)
        checks.insert(CheckResult(.newKernelRelease, passed: hello.kernelRelease == hop.to.kernelRelease,
                                  expected: hop.to.kernelRelease, observed: hello.kernelRelease), at: 0)
        checks.insert(CheckResult(.liveUpdateNumberIncremented, passed: hello.liveUpdateNumber == previous + 1,
                                  expected: String(previous + 1), observed: hello.liveUpdateNumber.map(String.init) ?? "none"), at: 1)
        return checks
    }

    /// What a failed check says about the new kernel.
    static func failureClass(of check: Check) -> FailureClass {
        switch check {
        case .newKernelRelease: .kexecLoadFailed
        case .finishNonzeroReserved, .finishSession, .retrieveAfterFinish, .finishRefusedBeforeHWPTReclaim, .finishAfterReclaim,
             .finishAfterVMRetrieved:
            .finishFailed
        case .liveUpdateNumberIncremented, .retrieveUnknownToken, .retrieveTokenTwiceSameFile, .retrieveUnknownSession,
             .retrieveIommufdAndCdev, .vfioCdevBindsRestoredIommufd, .hwptRestore, .mappedMemfdSizeFrozen, .retrieveKVMVM,
             .restoredVMOffersGuestMemfd:
            .retrieveFailed
        }
    }

    /// The kernel a stage ran in.
    func kernel(ofStage stage: Int) -> KernelImage { chain[min(max(stage - 1, 0), chain.count - 1)] }

    /// An expected message that never came, or a stage-1 fingerprint that is missing: the agent
    /// did not say what the verdict rests on.
    func missingEvidence() -> Outcome? {
        let missing = ExpectedMessage.required(by: scenario, stages: chain.count).filter { !received.contains($0) }
        if let first = missing.first {
            let kernel = kernel(ofStage: first.stage)
            let more = missing.count > 1 ? "; \(missing.count - 1) more expected message\(missing.count > 2 ? "s are" : " is") missing" : ""
            return Outcome(verdict: .error, failureClass: .infrastructure,
                           reason: "the agent never sent its \(first.name) in stage \(first.stage) (\(kernel.recipe)): nothing can be said of what it stands for\(more)",
                           evidence: missing.map { "stage \($0.stage): \($0.name)" }.joined(separator: "\n"))
        }
        if let hello = hellos.first(where: { $0.stage == 1 }), hello.kernelRelease != first.kernelRelease {
            return Outcome(verdict: .error, failureClass: .infrastructure,
                           reason: "the first kernel that booted is \(hello.kernelRelease), not \(first.recipe) (\(first.kernelRelease))")
        }
        if let object = fingerprintedObjects.first(where: { name in !before.contains { $0.object == name } }) {
            return Outcome(verdict: .error, failureClass: .infrastructure,
                           reason: "stage 1's fingerprints have no '\(object)': what it was before the handover is unknown")
        }
        return nil
    }

    private func judge(hopResults: [HopResult], mismatch: (hop: Int, objects: [ObjectResult])?, vm: VMResult?) -> Outcome {
        if let missing = missingEvidence() { return missing }
        for (index, hop) in hopResults.enumerated() {
            if let release = hop.checks.first(where: { $0.check == .newKernelRelease && !$0.passed }) {
                return Outcome(verdict: .fail, failureClass: .kexecLoadFailed,
                               reason: "hop \(index + 1): the kernel that came up is \(release.observed), expected \(release.expected)")
            }
        }
        if let guest = judgeGuest(vm) { return guest }
        if let mismatch {
            let bad = mismatch.objects.first { !$0.ok }!
            let first = bad.properties.first { $0.status == .changed }!
            let what = first.property == "content" ? (first.detail ?? "content differs") : "\(first.property) was \(first.before), is \(first.after)"
            let others = mismatch.objects.filter { !$0.ok }.count - 1
            let where_ = hops.count > 1 ? " after hop \(mismatch.hop + 1) (\(hops[mismatch.hop].to.recipe))" : ""
            return Outcome(verdict: .fail, failureClass: .stateMismatch,
                           reason: "\(bad.object) (session \(bad.session), token \(bad.token)) came back changed\(where_): \(what)" + (others > 0 ? "; \(others) more objects differ" : ""))
        }
        for hop in hopResults {
            if let failed = hop.checks.first(where: { !$0.passed }) {
                return Outcome(verdict: .fail, failureClass: Self.failureClass(of: failed.check),
                               reason: "uAPI check \(failed.check.wireName) in \(hop.to): expected \(failed.expected), observed \(failed.observed)")
            }
        }
        let last = hopResults.last!
        let checkCount = hopResults.reduce(0) { $0 + $1.checks.count }
        if let vm, let resumed = vm.hops.last?.firstCounterAfter, let paused = vm.hops.first?.counterAtPause, let ram = vm.ram {
            return Outcome(verdict: .pass, failureClass: nil,
                           reason: "the guest continued where it stopped across \(hopResults.count) hop\(hopResults.count > 1 ? "s" : "") (the runner saw counter \(paused) at the pause, \(resumed) at its first exit after, registers restored as paused) and its \(ram.bytes >> 20) MiB of RAM match the runner's model at its final counter \(ram.counter); \(checkCount) uAPI checks passed")
        }
        return Outcome(verdict: .pass, failureClass: nil,
                       reason: "\(last.objectsTotal) objects came back intact across \(hopResults.count) hop\(hopResults.count > 1 ? "s" : ""), \(checkCount) uAPI checks passed")
    }
}
