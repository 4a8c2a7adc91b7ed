import HandoverCore
import HandoverResults

extension RunTracker {
    /// What the guest's samples and reports say, hop by hop.
    func vmResult() -> VMResult? {
        guard scenario.devices?.vm != nil, let first = vmReports.first else { return nil }
        let hopResults = hops.map { hop -> VMResult.Hop in
            let continuity = vmReports.first { $0.continuity != nil && $0.stage == (hop.vmRunning?.sample.stage ?? -1) }?.continuity
            var blackout: Double?
            if let stopped = hop.vmStopped, let running = hop.vmRunning { blackout = running.time.seconds - stopped.time.seconds }
            var before: Double?, after: Double?
            if let stopped = hop.vmStopped, let quiesce = hop.quiesce { before = quiesce.seconds - stopped.time.seconds }
            if let resumed = hop.resumed, let running = hop.vmRunning { after = running.time.seconds - resumed.time.seconds }
            return VMResult.Hop(from: hop.from.recipe, to: hop.to.recipe, blackout: blackout, counterAtPause: hop.vmStopped?.sample.counter,
                                firstCounterAfter: hop.vmRunning?.sample.counter, beforeQuiesce: before, afterResumed: after,
                                continued: continuity?.ok, explanation: continuity.flatMap { $0.ok ? nil : $0.explanation })
        }
        return VMResult(backing: first.backing, ramBytes: first.ramBytes, stages: vmReports, hops: hopResults)
    }

    /// The vm scenario's verdict once the agent is done: the guest ran before the pause,
    /// continued where it stopped after every hop, and its RAM is what its progress says.
    func judgeGuest(_ vm: VMResult?) -> Outcome? {
        guard scenario.devices?.vm != nil else { return nil }
        guard let vm, let first = vm.stages.first(where: { $0.stage == 1 }), first.counterEnd > 0 else {
            return Outcome(verdict: .error, failureClass: .infrastructure, reason: "the agent reported no run of the guest before the pause")
        }
        for (index, hop) in vm.hops.enumerated() {
            let where_ = vm.hops.count > 1 ? " after hop \(index + 1) (\(hop.to))" : " in \(hop.to)"
            guard hop.firstCounterAfter != nil, let continued = hop.continued else {
                return Outcome(verdict: .error, failureClass: .infrastructure, reason: "the agent reported no resume of the guest\(where_)")
            }
            if !continued {
                return Outcome(verdict: .fail, failureClass: .vmDiscontinuity,
                               reason: "the guest did not continue where it stopped\(where_): \(hop.explanation ?? "")")
            }
        }
        for stage in vm.stages where stage.ram != nil {
            let ram = stage.ram!
            if !ram.ok {
                let spot = ram.firstDifference.map { String(format: "guest-physical 0x%llx (expected 0x%02x, found 0x%02x)", $0, ram.expected ?? 0, ram.found ?? 0) } ?? "?"
                return Outcome(verdict: .fail, failureClass: .stateMismatch,
                               reason: "guest RAM came back changed: first differing byte at \(spot); \(ram.differingBytes == 1 ? "1 byte differs" : "\(ram.differingBytes) bytes differ") from what the guest's progress (counter \(ram.counter)) says")
            }
        }
        guard let last = vm.stages.last, last.ram != nil else {
            return Outcome(verdict: .error, failureClass: .infrastructure, reason: "the agent did not check the guest's RAM after the last resume")
        }
        guard last.counterEnd > max(last.counterStart, vm.hops.last?.firstCounterAfter ?? 0) else {
            return Outcome(verdict: .fail, failureClass: .vmDiscontinuity, reason: "the guest made no progress after the resume")
        }
        return nil
    }
}
