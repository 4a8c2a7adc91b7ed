import Foundation
import HandoverCore
import HandoverResults

/// What a bisection was asked: a rerun into the same results folder continues it only when
/// this is the same.
public struct BisectRequest: Codable, Sendable, Equatable {
    public var scenario: String
    public var scenarioDigest: String
    /// "tree" or "recipes".
    public var mode: String
    public var tree: String?
    /// Identifies the tree's build configuration (base, fragments, patches by content).
    public var configuration: String?
    /// Which side the bisected kernels take: "from", "to" or "both".
    public var side: String
    /// The fixed other side's image key, when there is one.
    public var fixedImage: String?
    public var criterion: BisectCriterion
    public var repeats: Int
    /// Blackouts taken under host CPU contention are judged like the others.
    public var allowContention: Bool

    public init(scenario: String, scenarioDigest: String, mode: String, tree: String?, configuration: String?,
                side: String, fixedImage: String?, criterion: BisectCriterion, repeats: Int, allowContention: Bool = false) {
        self.allowContention = allowContention
        self.scenario = scenario
        self.scenarioDigest = scenarioDigest
        self.mode = mode
        self.tree = tree
        self.configuration = configuration
        self.side = side
        self.fixedImage = fixedImage
        self.criterion = criterion
        self.repeats = repeats
    }
}

/// One candidate: a commit (hash, subject, author) or a recipe (its name as id and subject).
public typealias BisectCandidate = GitHistory.Commit

/// How a step's kernel was built.
public struct StepBuildRecord: Codable, Sendable, Equatable {
    public var imageKey: String?
    public var seconds: Double
    /// The build folder held a finished build of another commit: only what changed was compiled.
    public var incremental: Bool
    /// The image was in the cache already: nothing was built.
    public var cached: Bool
    /// Compile and link steps make printed ("CC", "LD", ...).
    public var compiledUnits: Int?
    public var log: String?

    public init(imageKey: String?, seconds: Double, incremental: Bool, cached: Bool, compiledUnits: Int?, log: String?) {
        self.imageKey = imageKey
        self.seconds = seconds
        self.incremental = incremental
        self.cached = cached
        self.compiledUnits = compiledUnits
        self.log = log
    }
}

/// A blackout sample as a step records it (the good end's are the base of a blackout bisection).
public struct RecordedSample: Codable, Sendable, Equatable {
    public var total: Double
    public var phases: [String: Double]
    public var disturbed: Bool

    public var sample: BlackoutSample { BlackoutSample(total: total, phases: phases, disturbed: disturbed) }
}

public struct BisectStep: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable { case goodEnd = "good-end", badEnd = "bad-end", step }

    public var index: Int
    public var candidate: BisectCandidate
    public var role: Role
    public var verdict: StepVerdict
    public var reason: String
    public var build: StepBuildRecord?
    /// The step's results folder (its result.json), relative to the bisection's.
    public var results: String?
    public var blackout: BlackoutChange?
    /// A blackout step the good end's statistics could not clear, against the bad end's.
    public var againstBadEnd: BlackoutChange? = nil
    public var samples: [RecordedSample]
    public var startedAt: Date
    public var seconds: Double
}

/// bisect.json: the request, the candidates in order, every step so far and the outcome.
public struct BisectRecord: Codable, Sendable {
    public static let schema = 1
    public static let fileName = "bisect.json"

    public enum Status: String, Codable, Sendable {
        case running
        /// The first bad candidate is known.
        case found
        /// Skipped candidates hide it: it is one of several.
        case ambiguous
        /// The good end is not good or the bad end not bad: nothing to bisect.
        case refused
    }

    public var schema = BisectRecord.schema
    public var handoverVersion = HandoverVersion.tool
    public var request: BisectRequest
    /// Index 0 is the good end, the last the bad end.
    public var candidates: [BisectCandidate]
    public var steps: [BisectStep] = []
    public var status: Status = .running
    public var firstBad: BisectCandidate?
    /// For an ambiguous outcome: the candidates the first bad one is among.
    public var suspects: [BisectCandidate]?
    /// One paragraph: what was found and how sure.
    public var conclusion: String?
    public var startedAt: Date
    /// Wall time of every invocation that worked on it, added up.
    public var wallSeconds: Double = 0

    public init(request: BisectRequest, candidates: [BisectCandidate], startedAt: Date) {
        self.request = request
        self.candidates = candidates
        self.startedAt = startedAt
    }

    public var search: BisectSearch {
        BisectSearch(count: candidates.count, verdicts: steps.reduce(into: [:]) { $0[$1.index] = $1.verdict })
    }

    public func step(at index: Int) -> BisectStep? { steps.first { $0.index == index } }

    /// The steps as `git bisect log` writes them, so `git bisect replay` takes them.
    public var gitBisectLog: String {
        guard request.mode == "tree", let good = candidates.first, let bad = candidates.last else { return "" }
        var lines = ["git bisect start '--first-parent' '\(bad.hash)' '\(good.hash)'"]
        for step in steps {
            lines.append("# \(step.verdict.rawValue): [\(step.candidate.hash)] \(step.candidate.subject)")
            lines.append("git bisect \(step.verdict.rawValue) \(step.candidate.hash)")
        }
        if status == .found, let firstBad {
            lines.append("# first bad commit: [\(firstBad.hash)] \(firstBad.subject)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
