import Foundation
import HandoverCore
import Synchronization
import HandoverSupport
import HandoverImages
import HandoverMachines
import HandoverResults
import HandoverRuns

/// Runs a matrix: builds its images, probes the accelerator once, runs every pending run with
/// up to `jobs` VMs at a time, and hands the summary to its sink after each finished run, so an
/// interrupted matrix keeps everything it finished and can be resumed. What becomes of the
/// summary (reports, the history) is the sink's business: the command composes it.
public struct MatrixRunner: Sendable {
    public var matrix: MatrixFile
    public var folder: URL
    public var jobs: Int
    /// Backends with their own job limits; runs go to whichever has a free slot.
    public var slots: [(backend: Backend, jobs: Int)]
    public var resume: Bool
    public var accelerator: (Accelerator, String)?
    public var paths: CachePaths
    public var recipes: RecipeCatalog
    public var scenarios: ScenarioCatalog
    public var progress: ProgressReporter
    public var sink: any MatrixSummarySink
    /// Let blackouts overlap on a host without a core per vCPU (see `Isolation`), and judge
    /// blackouts taken under host contention like the others.
    public var allowContention = false
    /// Makes the VMs for the matrix's backends.
    public var machines: MachineMaker = .qemu

    public init(matrix: MatrixFile, folder: URL, jobs: Int, resume: Bool, paths: CachePaths, recipes: RecipeCatalog,
                scenarios: ScenarioCatalog, progress: ProgressReporter, sink: any MatrixSummarySink) {
        self.matrix = matrix
        self.folder = folder
        self.jobs = jobs
        self.slots = matrix.backends.map { ($0.backend, $0.jobs ?? jobs) }
        self.resume = resume
        self.paths = paths
        self.recipes = recipes
        self.scenarios = scenarios
        self.progress = progress
        self.sink = sink
    }

    var planURL: URL { folder.appendingPathComponent("plan.json") }

    public func run() async throws -> MatrixSummary {
        let fm = FileManager.default
        // The folder is this process's first (a second matrix into it is refused), then checked.
        try ResultsFolder.prepare(folder)
        if fm.fileExists(atPath: planURL.path), !resume {
            throw HarnessError(.io, "\(folder.path) already holds a matrix run; use --resume to finish it, or another --out")
        }

        var loaded: [String: Scenario] = [:]
        for name in matrix.scenarios {
            let file = try scenarios.file(for: name)
            loaded[name] = try Scenario.load(from: file)
        }
        // Pairs and chains that mix architectures are refused before anything is built.
        try MatrixArchitectures.check(matrix, recipes: recipes)
        var images: [String: KernelImage] = [:]
        let builder = ImageBuilder(paths: paths, progress: progress)
        for name in matrix.images {
            progress.step("image \(name)")
            images[name] = try await builder.build(try recipes.load(name))
        }
        // What was built, into the results folder: the KCIDB report's checkouts and builds.
        try RecordedImages.write(matrix.images.compactMap { images[$0] }, to: folder)

        let plan: MatrixPlan
        if resume, let previous = try? JSONCoding.decode(MatrixPlan.self, from: planURL) {
            plan = previous
        } else {
            plan = MatrixPlan.make(matrix: matrix, images: images, scenarios: loaded)
            try AtomicFile.writeJSON(plan, to: planURL)
            if let text = try? Data(contentsOf: URL(fileURLWithPath: matrix.file)) {
                try AtomicFile.write(text, to: folder.appendingPathComponent("matrix.yaml"))
            }
        }
        // Every cell's options checked against its scenario's kind before anything boots.
        for cell in plan.cells {
            guard let scenario = loaded.values.first(where: { $0.name == cell.scenario }) else { continue }
            var preflight = Preflight(scenario: scenario, kernels: cell.chain.count)
            preflight.repeats = matrix.repeats
            preflight.overallTimeout = matrix.timeout
            preflight.memoryMiB = matrix.memoryMiB
            try preflight.check(source: matrix.file)
        }
        let selftestKinds = loaded.values.filter { $0.kind == .selftest }.map(\.name).sorted()
        if !matrix.chains.isEmpty, !selftestKinds.isEmpty {
            progress.step("chains are not run for \(selftestKinds.joined(separator: ", ")) (kind selftest runs across pairs only)")
        }
        let startedAt = resume ? plan.createdAt : Date()
        let (accel, reason): (Accelerator, String)
        if let accelerator { (accel, reason) = accelerator } else {
            // Probed with an image of the host's architecture when the matrix has one.
            let probe = matrix.images.compactMap { images[$0] }.first { ArchitectureCheck.crossAccelerator($0) == nil }
            (accel, reason) = try await chooseAccelerator(probeWith: probe ?? images[matrix.images[0]]!)
        }
        if let timing = matrix.timing {
            if let refusal = timing.refusal(under: accel) { throw InputError(file: matrix.file, keyPath: "timing", message: refusal) }
            if let refusal = slots.lazy.compactMap({ timing.refusal(on: $0.backend) }).first {
                throw InputError(file: matrix.file, keyPath: "timing", message: refusal)
            }
        }
        let placement = slots.map { "\($0.jobs) on \($0.backend.label)" }.joined(separator: ", ")
        progress.step("matrix \(plan.name): \(plan.cells.count) cells, \(plan.runs.count) runs, \(placement), under \(accel.rawValue) (\(reason))")

        let pending = plan.runs.filter { run in
            !fm.fileExists(atPath: folder.appendingPathComponent(run.folder).appendingPathComponent("result.json").path)
        }
        if pending.count < plan.runs.count { progress.step("resuming: \(plan.runs.count - pending.count) runs already have results") }

        let slots = self.slots
        let localJobs = slots.filter { $0.backend == .qemu }.map(\.jobs).reduce(0, +)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let isolation = Isolation.choose(jobs: localJobs, cpus: matrix.cpus, cores: cores, allowContention: allowContention)
        let isolationText = isolation.description(jobs: localJobs, cpus: matrix.cpus, cores: cores)
        progress.step("isolation: \(isolationText)")
        let gate = isolation == .gated ? BlackoutGate() : nil
        var tallyStart = Tally(total: pending.count, started: Date(), busy: Array(repeating: 0, count: slots.count))
        if case .pinned(let coreSets) = isolation { tallyStart.freeCores = coreSets }
        let tally = TallyBox(tallyStart)
        let writer = SummaryUpdates(plan: plan, folder: folder, startedAt: startedAt, isolation: isolationText, sink: sink)
        let work: [(MatrixPlan.Run, Scenario, [KernelImage], RunOptions)] = pending.map { run in
            let cell = plan.cells[run.cell]
            var options = RunOptions(accelerator: accel, acceleratorReason: reason)
            options.machines = machines
            // A cell of another architecture than the host's runs under TCG, whatever was probed.
            if let cross = ArchitectureCheck.crossAccelerator(images[cell.chain[0]]!) {
                options.accelerator = cross.0
                options.acceleratorReason = cross.1
            }
            options.overallTimeout = matrix.timeout
            options.cpus = matrix.cpus
            options.memoryMiB = matrix.memoryMiB
            options.initcalls = matrix.initcalls
            options.artifacts = folder.appendingPathComponent(run.folder)
            let scenario = loaded.values.first { $0.name == cell.scenario }!
            return (run, scenario, cell.chain.map { images[$0]! }, options)
        }
        let progress = self.progress
        let name = plan.name
        await withTaskGroup(of: Void.self) { group in
            var queue = work[...]
            func launchMore() {
                while let (run, scenario, chain, baseOptions) = queue.first,
                      let slot = tally.state.withLock({ tally in tally.freeSlot(limits: slots.map(\.jobs)) }) {
                    queue = queue.dropFirst()
                    var options = baseOptions
                    options.backend = slots[slot].backend
                    options.timing = matrix.timing ?? Timing.preferred(under: options.accelerator, on: options.backend)
                    if options.backend == .qemu {
                        options.blackoutGate = gate
                        options.cpuAffinity = tally.state.withLock { $0.freeCores.popLast() }
                    }
                    group.addTask {
                        let quiet = ProgressReporter(mode: progress.mode == .verbose ? .verbose : .quiet)
                        let result = await ScenarioRunner.run(scenario, chain: chain, options: options, progress: quiet)
                        // A run cut short by an interrupt has no result: --resume runs it again.
                        if ChildProcesses.shared.isInterrupted { return }
                        do {
                            try AtomicFile.writeJSON(result, to: options.artifacts!.appendingPathComponent("result.json"))
                        } catch {
                            progress.step("cannot write the result of \(run.id): \(error)")
                        }
                        let line = tally.state.withLock { tally -> String in
                            tally.running -= 1
                            tally.busy[slot] -= 1
                            if let cores = options.cpuAffinity { tally.freeCores.append(cores) }
                            tally.done += 1
                            if result.verdict != .pass { tally.notPassed += 1 }
                            return tally.line(name: name)
                        }
                        let blackout = result.blackout.map { String(format: ", blackout %.0f ms", $0.total * 1000) } ?? ""
                        progress.step("\(result.verdict.rawValue.uppercased())\(result.failureClass.map { " (\($0.rawValue))" } ?? "") \(run.id)\(blackout)")
                        progress.status(line)
                        await writer.refresh()
                    }
                }
            }
            launchMore()
            for await _ in group { launchMore() }
        }
        progress.clear()
        return try await writer.finish()
    }

    func chooseAccelerator(probeWith image: KernelImage) async throws -> (Accelerator, String) {
        if let cross = ArchitectureCheck.crossAccelerator(image) {
            if matrix.accelerator == "kvm" { throw InputError(file: matrix.file, keyPath: "accel", message: "kvm: \(cross.1)") }
            return cross
        }
        if matrix.timing == .guest, matrix.accelerator == "auto" {
            return (.tcg, "timing: guest: instruction counting (icount) exists only under TCG")
        }
        switch matrix.accelerator {
        case "kvm": return (.kvm, "asked for with accel: kvm")
        case "tcg": return (.tcg, "asked for with accel: tcg")
        default:
            let verdict = try await AcceleratorProbe(paths: paths, progress: progress).choose(probeWith: image)
            return (verdict.accelerator, verdict.reason)
        }
    }

    final class TallyBox: Sendable {
        let state: Mutex<Tally>
        init(_ tally: Tally) { state = Mutex(tally) }
    }

    /// What the progress line shows.
    package struct Tally {
        var total: Int
        var started: Date
        var done = 0
        var running = 0
        var notPassed = 0
        /// Runs under way per backend slot.
        var busy: [Int]
        /// Core sets no running VM is pinned to (with `Isolation.pinned`).
        var freeCores: [[Int]] = []

        /// Takes the least busy slot that has room, or nil when all are full.
        mutating func freeSlot(limits: [Int]) -> Int? {
            let open = busy.indices.filter { busy[$0] < limits[$0] }
            guard let slot = open.min(by: { Double(busy[$0]) / Double(limits[$0]) < Double(busy[$1]) / Double(limits[$1]) }) else { return nil }
            busy[slot] += 1
            running += 1
            return slot
        }

        func line(name: String) -> String {
            let elapsed = Date().timeIntervalSince(started)
            var text = "matrix \(name): \(done)/\(total) done, \(running) running, \(notPassed) not passed, \(formatDuration(elapsed))"
            if done > 0, done < total { text += ", ~\(formatDuration(elapsed / Double(done) * Double(total - done))) left" }
            return text
        }
    }
}

/// Builds the summary from the folder and hands it to the sink, one update at a time.
actor SummaryUpdates {
    let plan: MatrixPlan
    let folder: URL
    let startedAt: Date
    let isolation: String
    let sink: any MatrixSummarySink

    init(plan: MatrixPlan, folder: URL, startedAt: Date, isolation: String, sink: any MatrixSummarySink) {
        self.plan = plan
        self.folder = folder
        self.startedAt = startedAt
        self.isolation = isolation
        self.sink = sink
    }

    private func summary() -> MatrixSummary {
        var summary = MatrixSummaryBuilder.build(plan: plan, folder: folder, startedAt: startedAt, finishedAt: Date(), host: hostName())
        summary.isolation = isolation
        return summary
    }

    func refresh() async { await sink.update(summary()) }

    func finish() async throws -> MatrixSummary { try await sink.finish(summary()) }
}

func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, buffer.count)
    return String(cString: buffer)
}
