import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverMachines
import HandoverResults
import HandoverRuns

/// Which side of the pair the bisected kernels take.
public enum BisectSide: Sendable {
    /// The bisected kernel is the new one; `from` is fixed.
    case newKernel(from: KernelImage)
    /// The bisected kernel is the old one; `to` is fixed.
    case oldKernel(to: KernelImage)
    /// The bisected kernel hands over to itself.
    case both

    public var label: String {
        switch self {
        case .newKernel: "to"
        case .oldKernel: "from"
        case .both: "both"
        }
    }

    public var fixed: KernelImage? {
        switch self {
        case .newKernel(let image), .oldKernel(let image): image
        case .both: nil
        }
    }

    func chain(with image: KernelImage) -> [KernelImage] {
        switch self {
        case .newKernel(let from): [from, image]
        case .oldKernel(let to): [image, to]
        case .both: [image, image]
        }
    }
}

/// Runs a bisection into a results folder: verifies the ends, then steps until the first
/// bad candidate is known, writing bisect.json (and bisect.log, git's form of it) after every
/// step, so a rerun with the same request continues where an interrupted one stopped.
public struct Bisector: Sendable {
    public var scenario: Scenario
    public var request: BisectRequest
    public var candidates: [BisectCandidate]
    public var side: BisectSide
    /// Accelerator and reason are filled in by `accelerator` before the first run.
    public var options: RunOptions
    /// The clock runs are timed on; nil: `Timing.preferred` for the accelerator chosen.
    public var timing: Timing?
    /// Chooses the accelerator, given the first kernel of the first run.
    public var accelerator: @Sendable (KernelImage) async throws -> (Accelerator, String)
    public var folder: URL
    public var progress: ProgressReporter
    /// The kernel of candidate `index`; a build failure's log goes to the URL given.
    public var image: @Sendable (_ index: Int, _ failedLog: URL) async throws -> StepImage

    public init(scenario: Scenario, request: BisectRequest, candidates: [BisectCandidate], side: BisectSide,
                options: RunOptions, accelerator: @escaping @Sendable (KernelImage) async throws -> (Accelerator, String),
                folder: URL, progress: ProgressReporter,
                image: @escaping @Sendable (Int, URL) async throws -> StepImage) {
        self.accelerator = accelerator
        self.scenario = scenario
        self.request = request
        self.candidates = candidates
        self.side = side
        self.options = options
        self.folder = folder
        self.progress = progress
        self.image = image
    }

    var recordFile: URL { folder.appendingPathComponent(BisectRecord.fileName) }

    /// The record a previous invocation left, when it bisected the same thing; an error when
    /// the folder holds another bisection.
    public func loadPrevious() throws -> BisectRecord? {
        guard FileManager.default.fileExists(atPath: recordFile.path) else { return nil }
        let previous: BisectRecord
        do {
            previous = try JSONCoding.decode(BisectRecord.self, from: recordFile)
        } catch {
            throw BisectInputError(option: "--out", "expected a bisection's results folder to continue; \(recordFile.path) is unreadable (\(error))")
        }
        guard previous.request == request, previous.candidates == candidates else {
            throw BisectInputError(option: "--out", "\(folder.path) holds another bisection (\(previous.request.scenario), \(previous.candidates.first?.short ?? "?")..\(previous.candidates.last?.short ?? "?"), \(previous.request.criterion.label)); give another folder, or the same options to continue it")
        }
        return previous
    }

    public func run() async throws -> BisectRecord {
        var chosen: RunOptions?
        return try await run(options: &chosen)
    }

    func run(options chosen: inout RunOptions?) async throws -> BisectRecord {
        let invocationStart = Date()
        var record = try loadPrevious() ?? BisectRecord(request: request, candidates: candidates, startedAt: invocationStart)
        let previousWall = record.wallSeconds
        if !record.steps.isEmpty {
            progress.step("continuing the bisection in \(folder.path): \(record.steps.count) step(s) already judged")
        }
        func save() throws {
            record.wallSeconds = previousWall + Date().timeIntervalSince(invocationStart)
            try AtomicFile.writeJSON(record, to: recordFile)
            try AtomicFile.write(record.gitBisectLog, to: folder.appendingPathComponent("bisect.log"))
        }
        record.status = .running
        try save()
        let last = candidates.count - 1
        for (index, role) in [(0, BisectStep.Role.goodEnd), (last, .badEnd)] where record.step(at: index) == nil {
            record.steps.append(try await perform(index, role: role, record: record, options: &chosen))
            try save()
        }
        if let refusal = Self.checkEnds(record) {
            record.status = .refused
            record.conclusion = refusal
            try save()
            return record
        }
        while true {
            let search = record.search
            switch search.next {
            case .test(let index):
                record.steps.append(try await perform(index, role: .step, record: record, options: &chosen))
                try save()
            case .found(let index):
                record.status = .found
                record.firstBad = candidates[index]
                record.conclusion = Self.conclusion(record, firstBad: index)
                try save()
                return record
            case .ambiguous(let indices):
                record.status = .ambiguous
                record.suspects = indices.map { candidates[$0] }
                record.conclusion = "the first bad \(request.mode == "tree" ? "commit" : "recipe") is one of \(indices.count), since the ones before \(candidates[indices.last!].short) were skipped: "
                    + indices.map { candidates[$0].short }.joined(separator: ", ")
                try save()
                return record
            }
        }
    }

    /// Why there is nothing to bisect between the ends, or nil when the good end is good and
    /// the bad end bad.
    package static func checkEnds(_ record: BisectRecord) -> String? {
        let good = record.step(at: 0)!, bad = record.step(at: record.candidates.count - 1)!
        if good.verdict != .good {
            return "the good end \(good.candidate.short) (\(good.candidate.subject)) is not good: it was judged \(good.verdict.rawValue): \(good.reason)"
        }
        if bad.verdict != .bad {
            return "the bad end \(bad.candidate.short) (\(bad.candidate.subject)) is not bad: it was judged \(bad.verdict.rawValue): \(bad.reason)"
        }
        return nil
    }

    static func conclusion(_ record: BisectRecord, firstBad index: Int) -> String {
        let culprit = record.candidates[index]
        var lines: [String] = []
        if let step = record.step(at: index) { lines.append("\(culprit.short): \(step.reason)") }
        if let parent = record.steps.filter({ $0.index < index && $0.verdict == .good }).max(by: { $0.index < $1.index }) {
            lines.append("\(parent.candidate.short), the last good one before it: \(parent.reason)")
        }
        return lines.joined(separator: "\n")
    }

    func stepFolder(_ candidate: BisectCandidate) -> URL {
        let name = request.mode == "tree" ? candidate.short : candidate.hash
        return folder.appendingPathComponent("steps").appendingPathComponent(name)
    }

    func perform(_ index: Int, role: BisectStep.Role, record: BisectRecord, options chosen: inout RunOptions?) async throws -> BisectStep {
        let candidate = candidates[index]
        let started = Date()
        let where_ = stepFolder(candidate)
        let label: String
        switch role {
        case .goodEnd: label = "good end"
        case .badEnd: label = "bad end"
        case .step: label = "step \(record.steps.filter { $0.role == .step }.count + 1), ~\(record.search.stepsLeft) left"
        }
        progress.step("[\(label)] \(candidate.short)\(request.mode == "tree" ? " " + candidate.subject : ""): building")
        let built = try await image(index, where_.appendingPathComponent("build.log"))
        func finish(_ judgement: StepJudgement, build: StepBuildRecord, results: String?, samples: [RecordedSample]) -> BisectStep {
            progress.step("[\(label)] \(candidate.short): \(judgement.verdict.rawValue): \(judgement.reason)")
            return BisectStep(index: index, candidate: candidate, role: role, verdict: judgement.verdict, reason: judgement.reason,
                              build: build, results: results, blackout: judgement.blackout, againstBadEnd: judgement.againstBadEnd,
                              samples: samples, startedAt: started, seconds: Date().timeIntervalSince(started))
        }
        let kernel: KernelImage
        let build: StepBuildRecord
        switch built {
        case .unbuildable(let reason, let record):
            return finish(StepJudgement(.skip, reason), build: record, results: nil, samples: [])
        case .ready(let image, let record):
            (kernel, build) = (image, record)
        }
        progress.step("[\(label)] \(candidate.short): " + Self.describe(build))
        try FileManager.default.createDirectory(at: where_, withIntermediateDirectories: true)
        try RecordedImages.write([kernel], to: folder)
        let chain = side.chain(with: kernel)
        if chosen == nil {
            var options = self.options
            (options.accelerator, options.acceleratorReason) = try await accelerator(chain[0])
            options.timing = timing ?? Timing.preferred(under: options.accelerator, on: options.backend)
            if let refusal = options.timing.refusal(under: options.accelerator) ?? options.timing.refusal(on: options.backend) {
                throw HarnessError(.configRejected, refusal)
            }
            chosen = options
        }
        var runs: [RunResult] = []
        var runOptions = chosen!
        for number in 1...request.repeats {
            runOptions.artifacts = request.repeats > 1 ? where_.appendingPathComponent(String(format: "run-%03d", number)) : where_
            progress.step("[\(label)] \(candidate.short): run \(number)/\(request.repeats): \(scenario.name) \(chain[0].recipe) -> \(chain[1].recipe)")
            let result = await ScenarioRunner.run(scenario, chain: chain, options: runOptions, progress: progress)
            ChildProcesses.shared.exitIfInterrupted()
            try AtomicFile.writeJSON(result, to: runOptions.artifacts!.appendingPathComponent("result.json"))
            progress.detail(result.summaryLine)
            runs.append(result)
        }
        if runs.count > 1 { try AtomicFile.writeJSON(RepeatedRunResult(runs: runs), to: where_.appendingPathComponent("result.json")) }
        let samples = runs.compactMap { run in
            run.blackout.map { RecordedSample(total: $0.total, phases: $0.phaseSeconds, disturbed: !request.allowContention && run.contention?.disturbed == true) }
        }
        let judgement = Self.judge(runs, role: role, criterion: request.criterion, record: record)
        return finish(judgement, build: build, results: "steps/\(where_.lastPathComponent)", samples: samples)
    }

    /// The good end of a blackout bisection is the base the others are compared with: it must
    /// pass, with enough repeats to compare.
    static func judge(_ runs: [RunResult], role: BisectStep.Role, criterion: BisectCriterion, record: BisectRecord) -> StepJudgement {
        if role == .goodEnd, case .blackout = criterion {
            let passing = StepJudge.judge(runs, criterion: .verdict(failureClass: nil), base: [])
            guard passing.verdict == .good else { return StepJudgement(.skip, passing.reason) }
            let samples = runs.compactMap { run in
                run.blackout.flatMap { record.request.allowContention || run.contention?.disturbed != true ? $0.total : nil }
            }
            guard samples.count >= BlackoutChange.minimumRepeats else {
                return StepJudgement(.skip, "\(samples.count) undisturbed blackout(s) measured (see --allow-contention); a blackout bisection needs --repeat \(BlackoutChange.minimumRepeats) or more")
            }
            return StepJudgement(.good, "the base: blackout median \(String(format: "%.3f s", SampleMath.median(samples))) over \(samples.count) runs")
        }
        let base = record.step(at: 0)?.samples.map(\.sample) ?? []
        let badEnd = role == .step ? record.step(at: record.candidates.count - 1)?.samples.map(\.sample) ?? [] : []
        return StepJudge.judge(runs, criterion: criterion, base: base, badEnd: badEnd, allowContention: record.request.allowContention)
    }

    static func describe(_ build: StepBuildRecord) -> String {
        if build.cached { return "image in the cache (\(build.imageKey ?? "?")), nothing built" }
        let units = build.compiledUnits.map { ", \($0) make steps" } ?? ""
        return String(format: "built in %.0f s (%@%@)", build.seconds, build.incremental ? "incremental" : "cold", units)
    }
}
