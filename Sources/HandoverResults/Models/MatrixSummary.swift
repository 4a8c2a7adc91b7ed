import Foundation
import HandoverCore
import HandoverImages

/// How a chain of kernels relates by version.
public enum Direction: String, Codable, Sendable {
    case upgrade, rollback, same, chain
}

/// One run of a matrix as the reports see it: where its files are and how it ended.
public struct MatrixRunRecord: Codable, Sendable, Equatable {
    /// "memfd-basic/linux-7.2--linux-7.3/rep-1": unique in the matrix, stable across resumes.
    public var id: String
    public var scenario: String
    public var chain: [String]
    public var repeatIndex: Int
    public var verdict: Verdict
    public var failureClass: FailureClass?
    public var reason: String
    public var evidence: String?
    public var blackout: Double?
    public var hopBlackouts: [Double?]
    public var wallSeconds: Double
    /// Paths relative to the results folder.
    public var resultPath: String
    public var consolePath: String?
    public var consoleTail: [String]
    /// A vm scenario's own blackout (the guest's last exit before the pause to its first after).
    public var vmBlackout: Double? = nil
    /// The VM's own time and the backend's set-up before it (uploads, a domain's start).
    public var vmSeconds: Double? = nil
    public var setupSeconds: Double? = nil
    /// The blackout's phases in seconds (see `Blackout.phaseSeconds`).
    public var phases: [String: Double]? = nil
    /// The host's CPU contention over the blackout window.
    public var contention: HostContention? = nil
    /// The blackout with its phases and the kernel boot's steps, for the timeline.
    public var blackoutDetail: Blackout? = nil
    /// The initramfs bytes of each stage.
    public var payload: [StagePayload]? = nil
    /// With guest timing: the blackout and its phases on the guest's clock.
    public var guestBlackout: Blackout? = nil

    package init(
        id: String,
        scenario: String,
        chain: [String],
        repeatIndex: Int,
        verdict: Verdict,
        failureClass: FailureClass? = nil,
        reason: String,
        evidence: String? = nil,
        blackout: Double? = nil,
        hopBlackouts: [Double?],
        wallSeconds: Double,
        resultPath: String,
        consolePath: String? = nil,
        consoleTail: [String],
        vmBlackout: Double? = nil,
        vmSeconds: Double? = nil,
        setupSeconds: Double? = nil,
        phases: [String: Double]? = nil,
        contention: HostContention? = nil,
        blackoutDetail: Blackout? = nil,
        payload: [StagePayload]? = nil
    ) {
        self.id = id
        self.scenario = scenario
        self.chain = chain
        self.repeatIndex = repeatIndex
        self.verdict = verdict
        self.failureClass = failureClass
        self.reason = reason
        self.evidence = evidence
        self.blackout = blackout
        self.hopBlackouts = hopBlackouts
        self.wallSeconds = wallSeconds
        self.resultPath = resultPath
        self.consolePath = consolePath
        self.consoleTail = consoleTail
        self.vmBlackout = vmBlackout
        self.vmSeconds = vmSeconds
        self.setupSeconds = setupSeconds
        self.phases = phases
        self.contention = contention
        self.blackoutDetail = blackoutDetail
        self.payload = payload
    }
}

/// A flagged change against the baseline (the last good run of the same cell).
public struct Regression: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case verdict, blackout }
    public var kind: Kind
    public var message: String
    public var baselineMatrix: String?
    public var baselineValue: String
    public var newValue: String

    package init(
        kind: Kind,
        message: String,
        baselineMatrix: String? = nil,
        baselineValue: String,
        newValue: String
    ) {
        self.kind = kind
        self.message = message
        self.baselineMatrix = baselineMatrix
        self.baselineValue = baselineValue
        self.newValue = newValue
    }
}

/// Two opinions about the same chain that do not agree: handover's own scenario and the
/// kernel's selftests, one passing where the other fails.
public struct Disagreement: Codable, Sendable, Equatable {
    public var chain: [String]
    public var scenario: String
    public var scenarioVerdict: Verdict
    public var selftests: String
    public var selftestVerdict: Verdict
    public var message: String

    package init(
        chain: [String],
        scenario: String,
        scenarioVerdict: Verdict,
        selftests: String,
        selftestVerdict: Verdict,
        message: String
    ) {
        self.chain = chain
        self.scenario = scenario
        self.scenarioVerdict = scenarioVerdict
        self.selftests = selftests
        self.selftestVerdict = selftestVerdict
        self.message = message
    }
}

/// One scenario across one chain of kernels, over all repeats.
public struct MatrixCell: Codable, Sendable, Equatable {
    public var scenario: String
    /// memfd (handover's own) or selftest (the kernel's).
    public var kind: String = "memfd"
    public var chain: [String]
    public var releases: [String]
    public var direction: Direction
    /// The worst verdict of its runs.
    public var verdict: Verdict
    public var failureClass: FailureClass?
    /// The reason of the worst run.
    public var reason: String
    public var evidence: String?
    public var runs: [MatrixRunRecord]
    public var blackout: Statistics?
    public var prediction: HandoverPrediction?
    /// A vm scenario's own blackout over its runs.
    public var vmBlackout: Statistics? = nil
    public var regressions: [Regression]
    /// The blackout judged against the baseline, with its interval and the phase that explains it.
    public var blackoutChange: BlackoutChange? = nil
    /// Whether an unsupported verdict counts as acceptable here.
    public var unsupportedAllowed: Bool
    /// The kernels' architecture (issue 20); nil for x86_64, so x86_64 cells read as before.
    public var arch: String? = nil

    public var name: String { "\(scenario): \(chain.joined(separator: " -> "))" + (arch.map { " [\($0)]" } ?? "") }

    /// The run whose blackout is the median of those with phases: the timeline a report draws.
    public var medianTimelineRun: MatrixRunRecord? {
        let timed = runs.filter { $0.blackoutDetail != nil }.sorted { $0.blackoutDetail!.total < $1.blackoutDetail!.total }
        return timed.isEmpty ? nil : timed[(timed.count - 1) / 2]
    }

    /// With guest timing: the guest-clock blackout of the run with the median one.
    public var medianGuestTimeline: Blackout? {
        let timed = runs.compactMap(\.guestBlackout).sorted { $0.total < $1.total }
        return timed.isEmpty ? nil : timed[(timed.count - 1) / 2]
    }

    /// With guest timing: the guest-clock blackout over its runs.
    public var guestBlackout: Statistics? { Statistics(runs.compactMap { $0.guestBlackout?.total }) }

    /// The median share of the blackout its runs attributed to named phases.
    public var attributedShare: Double? {
        let shares = runs.compactMap { $0.blackoutDetail?.attributedShare }
        return shares.isEmpty ? nil : Statistics(shares)?.median
    }
    /// A cell passes CI when it passed, or ended unsupported where the matrix allows it, and did not regress.
    public var acceptable: Bool {
        (verdict == .pass || (verdict == .unsupported && unsupportedAllowed)) && regressions.isEmpty
    }

    package init(
        scenario: String,
        kind: String = "memfd",
        chain: [String],
        releases: [String],
        direction: Direction,
        verdict: Verdict,
        failureClass: FailureClass? = nil,
        reason: String,
        evidence: String? = nil,
        runs: [MatrixRunRecord],
        blackout: Statistics? = nil,
        prediction: HandoverPrediction? = nil,
        vmBlackout: Statistics? = nil,
        regressions: [Regression],
        blackoutChange: BlackoutChange? = nil,
        unsupportedAllowed: Bool,
        arch: String? = nil
    ) {
        self.arch = arch
        self.scenario = scenario
        self.kind = kind
        self.chain = chain
        self.releases = releases
        self.direction = direction
        self.verdict = verdict
        self.failureClass = failureClass
        self.reason = reason
        self.evidence = evidence
        self.runs = runs
        self.blackout = blackout
        self.prediction = prediction
        self.vmBlackout = vmBlackout
        self.regressions = regressions
        self.blackoutChange = blackoutChange
        self.unsupportedAllowed = unsupportedAllowed
    }
}

/// What `handover matrix` and `handover report` write as summary.json, and what every report
/// is made from.
public struct MatrixSummary: Codable, Sendable, Equatable {
    public static let schema = 1

    public var schema = MatrixSummary.schema
    public var name: String
    public var matrixFile: String
    public var startedAt: Date
    public var finishedAt: Date
    public var accelerator: String
    public var host: String
    public var handoverVersion: String
    public var regressionThreshold: Double
    public var baseline: String?
    public var cells: [MatrixCell]
    /// Runs the plan had that have no result (an interrupted matrix).
    public var missingRuns: [String]
    public var disagreements: [Disagreement] = []
    /// How the VMs were kept from disturbing each other's blackout (see `Isolation`).
    public var isolation: String?

    public var counts: [Verdict: Int] {
        Dictionary(grouping: cells, by: \.verdict).mapValues(\.count)
    }

    /// 0 when every cell is acceptable, 1 when one failed or regressed, 2 when the harness broke.
    public var exitCode: Int32 {
        if cells.contains(where: { $0.verdict == .error }) || !missingRuns.isEmpty { return 2 }
        return cells.allSatisfy(\.acceptable) ? 0 : 1
    }

    package init(
        name: String,
        matrixFile: String,
        startedAt: Date,
        finishedAt: Date,
        accelerator: String,
        host: String,
        handoverVersion: String,
        regressionThreshold: Double,
        baseline: String? = nil,
        cells: [MatrixCell],
        missingRuns: [String],
        disagreements: [Disagreement] = [],
        isolation: String? = nil
    ) {
        self.name = name
        self.matrixFile = matrixFile
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.accelerator = accelerator
        self.host = host
        self.handoverVersion = handoverVersion
        self.regressionThreshold = regressionThreshold
        self.baseline = baseline
        self.cells = cells
        self.missingRuns = missingRuns
        self.disagreements = disagreements
        self.isolation = isolation
    }
}
