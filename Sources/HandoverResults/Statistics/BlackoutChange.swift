import HandoverCore
import Foundation

/// One repeat's blackout as a comparison sees it.
public struct BlackoutSample: Sendable, Equatable {
    public var total: Double
    /// Phase name → seconds (shutdown, kernelBoot, …), as far as the run attributed them.
    public var phases: [String: Double]
    /// Taken while the host's CPU was contended (see `HostContention`): left out of judgements.
    public var disturbed: Bool

    public init(total: Double, phases: [String: Double] = [:], disturbed: Bool = false) {
        self.total = total
        self.phases = phases
        self.disturbed = disturbed
    }
}

/// The change of one phase's median between the two sides.
public struct PhaseChange: Codable, Sendable, Equatable {
    public var phase: String
    public var baseMedian: Double
    public var newMedian: Double
    public var delta: Double { newMedian - baseMedian }
}

/// A blackout change judged for small, noisy samples: a bootstrap interval of the ratio of
/// medians and a one-sided Mann–Whitney test against the base scaled by the threshold.
/// A regression is flagged only when both say the growth exceeds the threshold: the
/// interval's lower bound is above 1 + threshold and the test's p is at most `alpha` (3 repeats a side can reach 0.05 exactly).
public struct BlackoutChange: Codable, Sendable, Equatable {
    public enum Finding: String, Codable, Sendable {
        /// Grew beyond the threshold, with the interval entirely above it.
        case regressed
        /// Shrank beyond the threshold, with the interval entirely below it.
        case improved
        /// The interval lies within the threshold either way.
        case unchanged
        /// The interval straddles the threshold: more repeats would tell.
        case inconclusive
        /// Too few undisturbed repeats to judge.
        case notJudged = "not-judged"
    }

    public static let minimumRepeats = 3
    public static let alpha = 0.05

    public var finding: Finding
    public var threshold: Double
    /// The growth more repeats should be able to catch (`repeatsNeeded` is computed for it).
    public var sensitivity: Double
    public var baseCount: Int
    public var newCount: Int
    /// Disturbed repeats left out of each side.
    public var baseExcluded: Int
    public var newExcluded: Int
    public var baseMedian: Double?
    public var newMedian: Double?
    public var interval: RatioInterval?
    /// One-sided p of "new is larger than base × (1 + threshold)".
    public var mannWhitneyP: Double?
    /// The larger side's MAD-based coefficient of variation.
    public var cv: Double?
    /// Repeats per side the sensitivity needs at 90% power, from `cv`.
    public var repeatsNeeded: Int?
    public var phases: [PhaseChange]
    /// The clock the totals are on; nil: the host's (judgements made before guest timing).
    public var clock: BlackoutClock? = nil
    /// A guest-clock judgement against a time rather than a fraction.
    public var thresholdSeconds: Double? = nil
    /// A guest-clock judgement: repeats taken under host contention, kept.
    public var disturbedKept: Int? = nil
    /// A guest-clock judgement: the larger side's max / min - 1.
    public var spread: Double? = nil

    public init(base: [BlackoutSample], new: [BlackoutSample], threshold: Double, sensitivity: Double? = nil,
                seed: UInt64 = SeededGenerator.reportSeed) {
        let baseKept = base.filter { !$0.disturbed }
        let newKept = new.filter { !$0.disturbed }
        self.threshold = threshold
        self.sensitivity = sensitivity ?? 2 * threshold
        baseCount = baseKept.count
        newCount = newKept.count
        baseExcluded = base.count - baseKept.count
        newExcluded = new.count - newKept.count
        phases = Self.phaseChanges(base: baseKept, new: newKept)
        guard !baseKept.isEmpty, !newKept.isEmpty else {
            finding = .notJudged
            return
        }
        let a = baseKept.map(\.total), b = newKept.map(\.total)
        baseMedian = SampleMath.median(a)
        newMedian = SampleMath.median(b)
        guard a.count >= Self.minimumRepeats, b.count >= Self.minimumRepeats else {
            finding = .notJudged
            return
        }
        let cv = max(SampleMath.robustCV(a), SampleMath.robustCV(b))
        self.cv = cv
        repeatsNeeded = RepeatsNeeded.count(cv: cv, threshold: threshold, sensitivity: self.sensitivity)
        let interval = RatioInterval(base: a, new: b, seed: seed)
        self.interval = interval
        let grown = MannWhitney(base: a.map { $0 * (1 + threshold) }, new: b).p
        let shrunk = MannWhitney(base: b.map { $0 * (1 + threshold) }, new: a).p
        if interval.low > 1 + threshold, grown <= Self.alpha {
            mannWhitneyP = grown
            finding = .regressed
        } else if interval.high < 1 / (1 + threshold), shrunk <= Self.alpha {
            mannWhitneyP = shrunk
            finding = .improved
        } else if interval.low >= 1 / (1 + threshold), interval.high <= 1 + threshold {
            mannWhitneyP = grown
            finding = .unchanged
        } else {
            mannWhitneyP = interval.ratio >= 1 ? grown : shrunk
            finding = .inconclusive
        }
    }

    /// Median of each phase both sides attributed, largest growth first.
    static func phaseChanges(base: [BlackoutSample], new: [BlackoutSample]) -> [PhaseChange] {
        let names = Set(base.flatMap(\.phases.keys)).intersection(new.flatMap(\.phases.keys))
        return names.compactMap { name -> PhaseChange? in
            let a = base.compactMap { $0.phases[name] }, b = new.compactMap { $0.phases[name] }
            guard !a.isEmpty, !b.isEmpty else { return nil }
            return PhaseChange(phase: name, baseMedian: SampleMath.median(a), newMedian: SampleMath.median(b))
        }.sorted { ($0.delta, $1.phase) > ($1.delta, $0.phase) }
    }

    /// The phase whose growth explains the change, when one grew the same way the total did.
    public var cause: PhaseChange? {
        guard let baseMedian, let newMedian else { return nil }
        let total = newMedian - baseMedian
        let whole = phases.filter { !$0.phase.hasPrefix(Blackout.bootStepPrefix) }
        let candidate = total >= 0 ? whole.first : whole.last
        guard let candidate, candidate.delta * total > 0 else { return nil }
        return candidate
    }

    /// Inside a kernel boot that explains the change: the boot step (an initcall, with
    /// initcall_debug on) that grew most the same way.
    public var bootCause: PhaseChange? {
        guard let cause, cause.phase == "kernelBoot" else { return nil }
        let steps = phases.filter { $0.phase.hasPrefix(Blackout.bootStepPrefix) }
        let candidate = cause.delta >= 0 ? steps.first : steps.last
        guard let candidate, candidate.delta * cause.delta > 0 else { return nil }
        return candidate
    }

    /// "+16.2% [90% interval +2.1% … +31.0%]".
    public var changeText: String {
        guard let interval else {
            guard let baseMedian, let newMedian, baseMedian > 0 else { return "-" }
            return Self.percent(newMedian / baseMedian - 1)
        }
        return "\(Self.percent(interval.ratio - 1)) [\(Int((interval.confidence * 100).rounded()))% interval \(Self.percent(interval.low - 1)) … \(Self.percent(interval.high - 1))]"
    }

    /// One paragraph a person reads: what changed, how sure, why, and what was used.
    public var text: String {
        if clock == .guest { return guestText }
        var parts: [String] = []
        switch finding {
        case .notJudged:
            parts.append("not judged: \(baseCount) and \(newCount) undisturbed repeats, at least \(Self.minimumRepeats) a side needed")
        default:
            parts.append("\(finding.rawValue): \(changeText) against the \(Self.percent(threshold, sign: false)) threshold")
            if let mannWhitneyP { parts.append(String(format: "Mann–Whitney p %.3f", mannWhitneyP)) }
        }
        if let baseMedian, let newMedian {
            parts.append("median \(Self.seconds(baseMedian)) → \(Self.seconds(newMedian))")
        }
        if let cause, let baseMedian, let newMedian, newMedian != baseMedian {
            let share = cause.delta / (newMedian - baseMedian)
            parts.append("\(cause.phase) \(Self.signedSeconds(cause.delta)) (\(Int((share * 100).rounded()))% of the change)")
            if let step = bootCause {
                parts.append("in it \(step.phase.dropFirst(Blackout.bootStepPrefix.count)) \(Self.signedSeconds(step.delta))")
            }
        }
        var used = "\(baseCount) vs \(newCount) repeats"
        if baseExcluded + newExcluded > 0 {
            used += " (\(baseExcluded + newExcluded) disturbed repeat\(baseExcluded + newExcluded == 1 ? "" : "s") left out)"
        }
        parts.append(used)
        if let cv, let repeatsNeeded {
            parts.append("CV \(String(format: "%.1f%%", cv * 100)): \(repeatsNeeded) repeats a side catch \(Self.percent(sensitivity)) at 90% power")
        }
        return parts.joined(separator: "; ")
    }

    package static func percent(_ fraction: Double, sign: Bool = true) -> String {
        String(format: sign ? "%+.1f%%" : "%.0f%%", fraction * 100)
    }

    static func seconds(_ value: Double) -> String { String(format: "%.3f s", value) }
    static func signedSeconds(_ value: Double) -> String { String(format: "%+.3f s", value) }
}
