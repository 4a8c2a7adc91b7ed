import HandoverCore
import HandoverResults

extension RunTracker {
    /// The guest across the run as the runner saw it: each hop's pause and resume from its own
    /// transcript, and the final RAM against its own model.
    func vmResult() -> VMResult? {
        guard let setup = scenario.devices?.vm, let first = vmReports.first else { return nil }
        let hopResults = hops.enumerated().map { index, hop -> VMResult.Hop in
            var blackout: Double?
            if let stopped = hop.vmStopped, let running = hop.vmRunning { blackout = running.time.seconds - stopped.time.seconds }
            var before: Double?, after: Double?
            if let stopped = hop.vmStopped, let quiesce = hop.quiesce { before = quiesce.seconds - stopped.time.seconds }
            if let resumed = hop.resumed, let running = hop.vmRunning { after = running.time.seconds - resumed.time.seconds }
            let continuity = self.continuity(ofHop: index, setup: setup)
            return VMResult.Hop(from: hop.from.recipe, to: hop.to.recipe, blackout: blackout, counterAtPause: hop.vmStopped?.sample.counter,
                                firstCounterAfter: hop.vmRunning?.sample.counter, beforeQuiesce: before, afterResumed: after,
                                continued: continuity.map { Self.discontinuity(in: $0) == nil },
                                explanation: continuity.flatMap(Self.discontinuity), continuity: continuity)
        }
        return VMResult(backing: first.backing, ramBytes: first.ramBytes, stages: vmReports, hops: hopResults, ram: ramComparison(setup))
    }

    /// Hop `index` pauses the guest in stage index+1 and resumes it in stage index+2.
    func continuity(ofHop index: Int, setup: GuestVMSetup) -> VMResult.Continuity? {
        let hop = hops[index]
        guard let stopped = hop.vmStopped?.sample, let running = hop.vmRunning?.sample,
              let paused = vmReports.first(where: { $0.stage == index + 1 && $0.pausedRegisters != nil })?.pausedRegisters,
              let restored = vmReports.first(where: { $0.stage == index + 2 && $0.restored != nil })?.restored else { return nil }
        func named(_ registers: GuestRegisters) -> [String: UInt64] {
            Dictionary(uniqueKeysWithValues: VCPUSnapshot.Register.allCases.compactMap { register in registers[register].map { (register.name, $0) } })
        }
        let differing = VCPUSnapshot.Register.allCases.filter { paused[$0] != restored.registers[$0] }.map(\.name)
        return VMResult.Continuity(counterAtPause: stopped.counter, expectedFirstCounter: stopped.counter &+ UInt64(setup.reportEvery),
                                   firstCounterAfter: running.counter, stateCounter: restored.snapshotCounter,
                                   counterInMemory: restored.counterInMemory, registersAtPause: named(paused),
                                   registersRestored: named(restored.registers), differingRegisters: differing)
    }

    /// What is wrong with a hop's continuity, or nil when the guest continued exactly.
    static func discontinuity(in c: VMResult.Continuity) -> String? {
        if c.stateCounter != c.counterAtPause {
            return "the vCPU state restored is the guest's at counter \(c.stateCounter), but it paused at counter \(c.counterAtPause): the state came back stale"
        }
        if let name = c.differingRegisters.first, let before = c.registersAtPause[name], let after = c.registersRestored[name] {
            let others = c.differingRegisters.count > 1 ? " (and \(c.differingRegisters.dropFirst().joined(separator: ", ")))" : ""
            return "the vCPU came back with \(name) 0x\(String(after, radix: 16)) after the restore, it was 0x\(String(before, radix: 16)) at the pause\(others)"
        }
        if c.counterInMemory != UInt32(truncatingIfNeeded: c.counterAtPause) {
            return String(format: "the counter word in guest RAM (guest-physical 0x%x) was %u after the restore, the guest had written %llu before the pause",
                          GuestProgram.counterAddress, c.counterInMemory, c.counterAtPause)
        }
        if c.firstCounterAfter == c.counterAtPause {
            return "its first report after the resume repeated the counter it stopped at (\(c.counterAtPause)): it ran again what it had already done"
        }
        if c.firstCounterAfter != c.expectedFirstCounter {
            let delta = Int64(bitPattern: c.firstCounterAfter &- c.expectedFirstCounter)
            return "its first report after the resume was counter \(c.firstCounterAfter), expected \(c.expectedFirstCounter) (\(delta > 0 ? "+" : "")\(delta))"
        }
        return nil
    }

    /// The last RAM report against the runner's model at the counter it was taken at.
    func ramComparison(_ setup: GuestVMSetup) -> VMResult.RAMComparison? {
        guard let report = vmReports.last(where: { $0.ram != nil }), let ram = report.ram, ram.chunkSize > 0,
              let spec = scenario.objects.first(where: { $0.name == setup.ram }), ram.bytes == spec.size,
              ram.chunks.count == (ram.bytes + ram.chunkSize - 1) / ram.chunkSize else { return nil }
        let model = GuestRAMModel(spec: spec, reportEvery: setup.reportEvery).digests(atCounter: ram.counter, chunkSize: ram.chunkSize)
        let differing = model.indices.filter { model[$0] != ram.chunks[$0] }
        let located = ram.firstDifference
        return VMResult.RAMComparison(stage: report.stage, counter: ram.counter, bytes: ram.bytes, chunkSize: ram.chunkSize,
                                      modelDigest: GuestRAMModel.combined(model), reportedDigest: GuestRAMModel.combined(ram.chunks),
                                      differingChunks: differing, firstDifference: located?.address, expected: located?.expected,
                                      found: located?.found, differingBytes: located?.differingBytes)
    }

    /// The vm scenario's verdict once the agent is done, from the runner's own records: the guest
    /// continued where the runner saw it pause after every hop, and its RAM at the final counter
    /// is what the runner's model says. Nil when all holds.
    func judgeGuest(_ vm: VMResult?) -> Outcome? {
        guard let setup = scenario.devices?.vm else { return nil }
        let error = { (reason: String) in Outcome(verdict: .error, failureClass: .infrastructure, reason: reason) }
        guard let vm, let first = vm.stages.first(where: { $0.stage == 1 }), first.counterEnd > 0 else {
            return error("the agent reported no run of the guest before the pause")
        }
        for (index, hop) in vm.hops.enumerated() {
            let where_ = vm.hops.count > 1 ? " after hop \(index + 1) (\(hop.to))" : " in \(hop.to)"
            guard let continuity = hop.continuity else {
                return error("the agent did not report the guest's pause in stage \(index + 1) and its restore in stage \(index + 2) in full (vcpu-stopped, the registers saved, vcpu-running, the state restored)")
            }
            if let explanation = Self.discontinuity(in: continuity) {
                return Outcome(verdict: .fail, failureClass: .vmDiscontinuity, reason: "the guest did not continue where it stopped\(where_): \(explanation)")
            }
        }
        let finalStage = chain.count
        guard let report = vm.stages.last(where: { $0.ram != nil }), let ram = report.ram else {
            return error("the agent did not report the guest's RAM after the last resume")
        }
        guard report.stage == finalStage else {
            return error("the guest's RAM was reported from stage \(report.stage), not from the final stage \(finalStage)")
        }
        guard ram.counter == report.counterEnd else {
            return error("the guest's RAM was read at counter \(ram.counter), but the guest's final counter is \(report.counterEnd)")
        }
        let spec = scenario.objects.first { $0.name == setup.ram }!
        guard ram.bytes == spec.size else {
            return error("the RAM report covers \(ram.bytes) bytes, the guest has \(spec.size) bytes of RAM")
        }
        guard let comparison = vm.ram else {
            return error("the RAM report's \(ram.chunks.count) digests do not cover \(ram.bytes) bytes in chunks of \(ram.chunkSize)")
        }
        if let chunk = comparison.differingChunks.first {
            let start = UInt64(chunk * comparison.chunkSize), end = UInt64(min((chunk + 1) * comparison.chunkSize, comparison.bytes))
            var spot = String(format: "guest-physical 0x%llx-0x%llx differs from the runner's model at counter %llu", start, end - 1, comparison.counter)
            if let address = comparison.firstDifference, address >= start, address < end, let expected = comparison.expected, let found = comparison.found {
                spot += String(format: "; the first differing byte is at guest-physical 0x%llx (expected 0x%02x, found 0x%02x)", address, expected, found)
                if let count = comparison.differingBytes { spot += count == 1 ? ", 1 byte differs" : ", \(count) bytes differ" }
            }
            let others = comparison.differingChunks.count - 1
            return Outcome(verdict: .fail, failureClass: .stateMismatch,
                           reason: "guest RAM came back changed: \(spot)" + (others > 0 ? "; \(others) more chunk\(others > 1 ? "s" : "") of \(comparison.chunkSize) bytes differ" : ""))
        }
        let resumed = vm.hops.last?.firstCounterAfter ?? 0
        guard report.counterEnd > resumed else {
            return Outcome(verdict: .fail, failureClass: .vmDiscontinuity, reason: "the guest made no progress after the resume")
        }
        return nil
    }
}
