import HandoverCore

extension Blackout {
    /// Every attributed phase by its name in result.json, in seconds: whatever phases the
    /// blackout carries, so a phase added to it is compared without a change here.
    public var phaseSeconds: [String: Double] {
        var phases: [String: Double] = [:]
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, label != "total" else { continue }
            if let value = child.value as? Double { phases[label] = value }
            if let value = child.value as? Double?, let value { phases[label] = value }
        }
        return phases
    }
}

extension MatrixCell {
    /// The blackouts of its runs that have one, for a comparison.
    public var blackoutSamples: [BlackoutSample] {
        runs.compactMap { run in
            run.blackout.map { BlackoutSample(total: $0, phases: run.phases ?? [:], disturbed: run.contention?.disturbed ?? false) }
        }
    }
}
