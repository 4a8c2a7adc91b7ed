/// good, bad or skip, as `git bisect` says them.
public enum StepVerdict: String, Codable, Sendable, Equatable {
    case good, bad, skip
}

/// Binary search for the first bad one of an ordered list of candidates, where index 0 is
/// known good and the last index known bad. Skipped candidates are stepped around: the next
/// candidate is the untested one nearest the middle of what is still open.
public struct BisectSearch: Sendable, Equatable {
    public enum Next: Sendable, Equatable {
        case test(Int)
        case found(Int)
        /// Only skipped candidates lie before the first known bad one: the first bad is one of
        /// these (the skipped ones and that bad one), in order.
        case ambiguous([Int])
    }

    public var count: Int
    public var verdicts: [Int: StepVerdict]

    public init(count: Int, verdicts: [Int: StepVerdict] = [:]) {
        precondition(count >= 2, "a search needs a good and a bad end")
        self.count = count
        self.verdicts = verdicts
    }

    /// The first index known bad (the bad end when no step was bad).
    public var firstKnownBad: Int {
        verdicts.filter { $0.value == .bad && $0.key > 0 }.keys.min() ?? count - 1
    }

    /// The last index known good before `firstKnownBad` (the good end when none was).
    public var lastKnownGood: Int {
        let bad = firstKnownBad
        return verdicts.filter { $0.value == .good && $0.key < bad }.keys.max() ?? 0
    }

    public var next: Next {
        let good = lastKnownGood, bad = firstKnownBad
        let between = Array((good + 1)..<max(good + 1, bad))
        let open = between.filter { verdicts[$0] == nil }
        guard !open.isEmpty else {
            return between.isEmpty ? .found(bad) : .ambiguous(between + [bad])
        }
        // Twice the middle, to stay in integers; ties go to the older candidate.
        let middle = good + bad
        return .test(open.min { (abs(2 * $0 - middle), $0) < (abs(2 * $1 - middle), $1) }!)
    }

    /// About how many more steps, if none is skipped.
    public var stepsLeft: Int {
        let open = firstKnownBad - lastKnownGood - 1
        guard open > 0 else { return 0 }
        var steps = 0
        var span = open + 1
        while span > 1 { span = (span + 1) / 2; steps += 1 }
        return steps
    }
}
