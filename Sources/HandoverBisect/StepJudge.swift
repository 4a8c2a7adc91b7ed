import HandoverCore
import HandoverResults

/// What makes a step bad.
public enum BisectCriterion: Codable, Sendable, Equatable {
    /// A failed run is bad (only a failure of `failureClass` when given); a pass is good.
    case verdict(failureClass: FailureClass?)
    /// A blackout that grew beyond `threshold` (0.2 is 20%) against the good end's is bad.
    case blackout(threshold: Double)

    public var label: String {
        switch self {
        case .verdict(nil): "fail"
        case .verdict(let failureClass?): "fail (\(failureClass.rawValue))"
        case .blackout(let threshold): "blackout +\(Int((threshold * 100).rounded()))%"
        }
    }
}

/// A step's verdict and why.
public struct StepJudgement: Codable, Sendable, Equatable {
    public var verdict: StepVerdict
    public var reason: String
    /// For a blackout bisection: the step's blackout against the good end's.
    public var blackout: BlackoutChange?
    /// And against the bad end's, when the good end's could not say the step is good.
    public var againstBadEnd: BlackoutChange?

    public init(_ verdict: StepVerdict, _ reason: String, blackout: BlackoutChange? = nil, againstBadEnd: BlackoutChange? = nil) {
        self.verdict = verdict
        self.reason = reason
        self.blackout = blackout
        self.againstBadEnd = againstBadEnd
    }
}

/// Turns a step's runs into good, bad or skip. Unsupported and error say nothing about the
/// commit's change (the first kernel could not preserve, or the harness broke), so they skip.
public enum StepJudge {
    /// `base` holds the good end's blackouts, `badEnd` the bad end's (empty for the ends themselves).
    public static func judge(_ runs: [RunResult], criterion: BisectCriterion, base: [BlackoutSample], badEnd: [BlackoutSample] = [],
                             allowContention: Bool = false) -> StepJudgement {
        guard !runs.isEmpty else { return StepJudgement(.skip, "no run finished") }
        func describe(_ run: RunResult, _ index: Int) -> String {
            let which = runs.count > 1 ? "run \(index + 1): " : ""
            let kind = run.failureClass.map { "\(run.verdict.rawValue) (\($0.rawValue))" } ?? run.verdict.rawValue
            return "\(which)\(kind): \(run.reason)"
        }
        let indexed = Array(runs.enumerated())
        switch criterion {
        case .verdict(let wanted):
            if let (index, run) = indexed.first(where: { $0.element.verdict == .fail && (wanted == nil || $0.element.failureClass == wanted) }) {
                return StepJudgement(.bad, describe(run, index))
            }
            if let (index, run) = indexed.first(where: { $0.element.verdict == .fail }) {
                return StepJudgement(.skip, describe(run, index) + "; not a \(wanted!.rawValue) failure")
            }
            if let (index, run) = indexed.first(where: { $0.element.verdict != .pass }) {
                return StepJudgement(.skip, describe(run, index))
            }
            return StepJudgement(.good, runs.count == 1 ? "pass" : "\(runs.count) of \(runs.count) runs passed")
        case .blackout(let threshold):
            if let (index, run) = indexed.first(where: { $0.element.verdict != .pass }) {
                return StepJudgement(.skip, describe(run, index) + "; a blackout is judged only on passing runs")
            }
            let samples = runs.compactMap { run in
                run.blackout.map { BlackoutSample(total: $0.total, phases: $0.phaseSeconds, disturbed: !allowContention && run.contention?.disturbed == true) }
            }
            let change = BlackoutChange(base: base, new: samples, threshold: threshold)
            let verdict = verdict(for: change)
            if verdict == .good, change.finding == .inconclusive {
                let ceiling = BlackoutChange.percent(threshold)
                return StepJudgement(.good, "below the \(ceiling) threshold: \(change.text)", blackout: change)
            }
            guard verdict == .skip, !badEnd.isEmpty else { return StepJudgement(verdict, change.text, blackout: change) }
            // Too noisy to clear it against the good end: it is good all the same when its
            // blackout is clearly below the bad end's (it does not carry the slowdown).
            let againstBad = BlackoutChange(base: badEnd, new: samples, threshold: threshold)
            let text = "against the good end: \(change.text); against the bad end: \(againstBad.text)"
            return StepJudgement(againstBad.finding == .improved ? .good : .skip, text, blackout: change, againstBadEnd: againstBad)
        }
    }

    /// Against the good end: bad when the growth beyond the threshold is established (interval
    /// above it and the Mann–Whitney test agreeing); good when the interval lies wholly below it
    /// (not slower by the threshold, whatever else); otherwise the repeats cannot tell.
    static func verdict(for change: BlackoutChange) -> StepVerdict {
        switch change.finding {
        case .regressed: return .bad
        case .improved, .unchanged: return .good
        case .inconclusive:
            guard let interval = change.interval, interval.high <= 1 + change.threshold else { return .skip }
            return .good
        case .notJudged: return .skip
        }
    }
}
