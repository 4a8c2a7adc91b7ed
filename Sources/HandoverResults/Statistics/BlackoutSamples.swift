import HandoverCore

extension Blackout {
    /// Every attributed phase by its name in result.json, in seconds: whatever phases the
    /// blackout carries, so a phase added to it is compared without a change here.
    public var phaseSeconds: [String: Double] {
        var phases: [String: Double] = [:]
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, label != "total", label != "attributedShare", label != "printkClockLag", label != "clock" else { continue }
            if let value = child.value as? Double { phases[label] = value }
            if let value = child.value as? Double?, let value { phases[label] = value }
        }
        for step in kernelBootSteps ?? [] { phases[Self.bootStepPrefix + step.key] = step.seconds }
        return phases
    }
}

extension Blackout {
    /// Boot steps are phases named "kernelBoot: initcall NAME" and so on, inside kernelBoot.
    public static let bootStepPrefix = "kernelBoot: "
}

extension BootStep {
    /// The name without what varies from run to run (the count of the other initcalls).
    var key: String { kind == .otherInitcalls ? "other initcalls" : name }
}

extension MatrixCell {
    /// The blackouts of its runs that have one, for a comparison.
    public var blackoutSamples: [BlackoutSample] {
        runs.compactMap { run in
            run.blackout.map { BlackoutSample(total: $0, phases: run.phases ?? [:], disturbed: run.contention?.disturbed ?? false) }
        }
    }
}

extension MatrixCell {
    /// The guest-clock blackouts of its runs (guest timing). Contention is kept on each sample
    /// but does not leave it out: the host cannot move virtual time.
    public var guestBlackoutSamples: [BlackoutSample] {
        runs.compactMap { run in
            run.guestBlackout.map { BlackoutSample(total: $0.total, phases: $0.phaseSeconds, disturbed: run.contention?.disturbed ?? false) }
        }
    }
}
