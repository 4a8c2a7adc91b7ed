import ArgumentParser
import Foundation
import HandoverCore
import HandoverSupport
import HandoverResults
import HandoverRuns
import HandoverReports
import HandoverHistory
import HandoverMatrix

struct MatrixCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Run a matrix of scenarios across kernel pairs and chains, with reports.",
        discussion: "Exit status: 0 every cell passed (or was unsupported where allowed), 1 a cell failed or regressed, 2 the harness broke.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The matrix file (YAML).") var file: String
    @Option(help: "VMs at a time (default: host cores / VM cpus).") var jobs: Int?
    @Option(help: "Results folder (default: results/matrix-<name>-<time>).") var out: String?
    @Flag(help: "Finish an interrupted matrix in --out, keeping the runs it finished.") var resume = false
    @Option(help: "kvm, tcg or auto; overrides the matrix file.") var accel: String?
    @Option(help: "qemu or libvirt: run everything there, overriding the matrix's backends.") var backend: String?
    @Option(help: "The libvirt URI with --backend libvirt.") var connect: String?
    @Option(help: "The history database (default: $XDG_DATA_HOME/handover/history.sqlite).") var history: String?
    @Flag(help: "Do not compare with or record into the history.") var noHistory = false
    @Flag(help: "Also write kcidb.json (KCIDB I/O data for KernelCI) with the other reports.") var kcidb = false
    @OptionGroup var kcidbOptions: KCIDBArguments

    func validate() throws {
        if kcidbOptions.given && !kcidb { throw ValidationError("--kcidb-origin and --kcidb-artifacts-url go with --kcidb") }
    }
    @Flag(help: "Let VMs be in their blackouts at the same time when the host has fewer cores than they have vCPUs (faster), and judge blackouts taken under host CPU contention like the others (each result records the pressure).")
    var allowContention = false
    @Flag(help: "Split each blackout's kernel boot by initcall (initcall_debug, read from /dev/kmsg); the matrix file's initcalls: true does the same.")
    var initcalls = false

    func run() async throws {
        ChildProcesses.shared.installSignalHandlers()
        let code: Int32 = try await reportingErrors {
            var matrix = try MatrixFile.load(from: URL(fileURLWithPath: file))
            if initcalls { matrix.initcalls = true }
            if let accel {
                guard ["kvm", "tcg", "auto"].contains(accel) else { throw ValidationError("--accel takes kvm, tcg or auto") }
                matrix.accelerator = accel
            }
            if resume && out == nil { throw ValidationError("--resume needs --out with the folder to finish") }
            if let backend {
                let options = try BackendOptions.parse(["--backend", backend] + (connect.map { ["--connect", $0] } ?? []))
                matrix.backends = [MatrixFile.BackendSlot(backend: options.value, jobs: nil)]
            } else if connect != nil {
                throw ValidationError("--connect goes with --backend libvirt")
            }
            let folder = URL(fileURLWithPath: out ?? "results/matrix-\(matrix.name)-\(ResultsFolder.timestamp())")
            let cores = ProcessInfo.processInfo.activeProcessorCount
            let jobCount = jobs ?? matrix.jobs ?? max(1, cores / matrix.cpus)
            let writer = MatrixSummaryWriter(
                folder: folder, historyPath: noHistory ? nil : history.map { URL(fileURLWithPath: $0) } ?? HistoryStore.defaultPath(),
                kcidb: kcidb ? kcidbOptions.options : nil, threshold: matrix.regressionThreshold,
                sensitivity: matrix.regressionSensitivity, judgeDisturbed: allowContention)
            var runner = MatrixRunner(
                matrix: matrix, folder: folder, jobs: jobCount, resume: resume, paths: global.paths,
                recipes: global.catalog, scenarios: ScenarioCatalog.locate(), progress: global.progress, sink: writer)
            runner.allowContention = allowContention
            runner.machines = Handover.machines
            let summary = try await runner.run()
            print(MatrixText.summary(summary))
            print("reports: \(folder.path)/{\(MatrixReports.files(kcidb: writer.kcidb).joined(separator: ","))}")
            return summary.exitCode
        }
        if code != 0 { throw ExitCode(code) }
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Regenerate the reports of a matrix results folder.",
        discussion: "With --kcidb FILE, also write the run as KCIDB I/O data (schema 5.3), the format KernelCI's database takes.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The results folder of a matrix run.") var folder: String
    @Option(help: "The history database to compare against.") var history: String?
    @Flag(help: "Do not compare with the history.") var noHistory = false
    @Option(help: ArgumentHelp("Also write KCIDB I/O data (JSON) to this file.", valueName: "file")) var kcidb: String?
    @OptionGroup var kcidbOptions: KCIDBArguments

    func validate() throws {
        if kcidbOptions.given && kcidb == nil { throw ValidationError("--kcidb-origin and --kcidb-artifacts-url go with --kcidb FILE") }
    }

    func run() async throws {
        let code: Int32 = try await reportingErrors {
            let url = URL(fileURLWithPath: folder)
            let planURL = url.appendingPathComponent("plan.json")
            guard FileManager.default.fileExists(atPath: planURL.path) else {
                throw HarnessError(.notFound, "\(folder) is not a matrix results folder (no plan.json)")
            }
            let plan = try JSONCoding.decode(MatrixPlan.self, from: planURL)
            let summaryURL = url.appendingPathComponent("summary.json")
            var previous: MatrixSummary?
            if FileManager.default.fileExists(atPath: summaryURL.path) {
                do {
                    previous = try JSONCoding.decode(MatrixSummary.self, from: summaryURL)
                } catch {
                    global.progress.step("\(error); rebuilding it from the runs")
                }
            }
            var summary = MatrixSummaryBuilder.build(plan: plan, folder: url, startedAt: previous?.startedAt ?? plan.createdAt,
                                                     finishedAt: previous?.finishedAt ?? Date(), host: previous?.host ?? "unknown")
            if !noHistory {
                let path = history.map { URL(fileURLWithPath: $0) } ?? HistoryStore.defaultPath()
                if FileManager.default.fileExists(atPath: path.path) {
                    try RegressionCheck.apply(to: &summary, store: try HistoryStore(path: path), threshold: plan.regressionThreshold,
                                              sensitivity: plan.regressionSensitivity,
                                              excluding: url.standardizedFileURL.lastPathComponent)
                }
            }
            try MatrixReports.writeAll(summary, to: url)
            if let kcidb {
                try KCIDBReport.write(summary, folder: url, options: kcidbOptions.options, to: URL(fileURLWithPath: kcidb))
            }
            print(MatrixText.summary(summary))
            return summary.exitCode
        }
        if code != 0 { throw ExitCode(code) }
    }
}

/// How a KCIDB report names its origin and links its files (matrix --kcidb, report --kcidb).
struct KCIDBArguments: ParsableArguments {
    @Option(name: .customLong("kcidb-origin"), help: ArgumentHelp(
        "The KCIDB origin (the CI system's name) every id starts with: lowercase letters, digits and _ (default: handover).",
        valueName: "origin"))
    var origin: String?
    @Option(name: .customLong("kcidb-artifacts-url"), help: ArgumentHelp(
        "Where the results folder is published: KCIDB links become this URL joined with each file's path (default: file:// URLs of the folder).",
        valueName: "url"))
    var artifactsURL: String?

    var options: KCIDBOptions { KCIDBOptions(origin: origin ?? "handover", artifactsURL: artifactsURL) }
    var given: Bool { origin != nil || artifactsURL != nil }

    func validate() throws {
        if let origin, !KCIDBOptions.isValidOrigin(origin) {
            throw ValidationError("--kcidb-origin must be lowercase letters, digits and _ (KCIDB's origin pattern), not '\(origin)'")
        }
        if let artifactsURL, !KCIDBOptions.isAbsoluteURL(artifactsURL) {
            throw ValidationError("--kcidb-artifacts-url must be an absolute URL such as https://ci.example.org/artifacts/123/, not '\(artifactsURL)'")
        }
    }
}

struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare", abstract: "Compare two matrix runs (results folders or history ids).",
        discussion: "Exit status: 0 no regression, 1 a regression, 2 bad input.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The baseline: a results folder or a history id.") var base: String
    @Argument(help: "The new run.") var new: String
    @Option(help: "Blackout growth flagged as a regression: a fraction (0.10), a percentage (2%) or a time (20ms). On the host clock the interval of the change must lie above it (a time is taken as a fraction of the base median); on the guest clock (both sides guest-timed) the medians decide.") var threshold: String = "0.10"
    @Option(help: "The growth the report says how many repeats would catch (fraction; default twice the threshold).") var sensitivity: Double?
    @Option(help: "The history database.") var history: String?
    @Option(help: ArgumentHelp("Also write an HTML page with each cell's two blackout timelines side by side.", valueName: "file")) var html: String?

    func run() async throws {
        let regressed: Bool = try await reportingErrors {
            let path = history.map { URL(fileURLWithPath: $0) } ?? HistoryStore.defaultPath()
            let store = FileManager.default.fileExists(atPath: path.path) ? try HistoryStore(path: path) : nil
            let a = try MatrixComparison.loadSummary(base, store: store)
            let b = try MatrixComparison.loadSummary(new, store: store)
            let refusal = ValidationError("--threshold takes a fraction such as 0.10, a percentage such as 2% (at most 10000%) or a time such as 20ms, found '\(threshold)'")
            guard let limit = BlackoutThreshold.parse(threshold) else { throw refusal }
            var fraction = 0.10, absolute: Double?
            switch limit {
            case .fraction(let value):
                guard value <= 100 else { throw refusal }
                fraction = value
            case .seconds(let value): absolute = value
            }
            if let sensitivity, absolute == nil, sensitivity <= fraction {
                throw ValidationError("--sensitivity (\(sensitivity)) must be above --threshold (\(threshold))")
            }
            let comparisons = MatrixComparison.compare(base: a, new: b, threshold: fraction, sensitivity: sensitivity, absoluteThreshold: absolute)
            let text = MatrixComparison.text(comparisons)
            let timelines = CompareTimeline.pairs(base: a, new: b)
            print(text)
            if !timelines.isEmpty { print("\n" + CompareTimeline.text(timelines)) }
            if let html {
                try AtomicFile.write(CompareTimeline.html(timelines, baseLabel: base, newLabel: new, comparisonText: timelines.isEmpty ? text : text + "\n\n" + CompareTimeline.text(timelines)), to: URL(fileURLWithPath: html))
            }
            return comparisons.contains { !$0.regressions.isEmpty }
        }
        if regressed { throw ExitCode(1) }
    }
}

enum MatrixText {
    static func summary(_ summary: MatrixSummary) -> String {
        var lines: [String] = []
        let counts = summary.counts
        lines.append("matrix \(summary.name): " + [Verdict.pass, .unsupported, .fail, .error].compactMap { verdict in
            counts[verdict].map { "\($0) \(verdict.rawValue)" }
        }.joined(separator: ", ") + " (\(summary.cells.count) cells, accelerator \(summary.accelerator))")
        for cell in summary.cells {
            var line = "  \(cell.verdict.rawValue.uppercased().padding(toLength: 11, withPad: " ", startingAt: 0)) \(cell.name)"
            if let failureClass = cell.failureClass { line += " [\(failureClass.rawValue)]" }
            if let stats = cell.blackout { line += String(format: "  blackout median %.0f ms over %d", stats.median * 1000, stats.count) }
            if let stats = cell.guestBlackout { line += String(format: " (host clock); %.3f ms on the guest clock, spread %.3f%%", stats.median * 1000, stats.spread * 100) }
            lines.append(line)
            if cell.verdict != .pass { lines.append("      \(cell.reason)") }
            for regression in cell.regressions { lines.append("      REGRESSION: \(regression.message)") }
            if let change = cell.blackoutChange, change.finding != .regressed { lines.append("      blackout against the baseline: \(change.text)") }
        }
        for disagreement in summary.disagreements { lines.append("  DISAGREEMENT: \(disagreement.message)") }
        if !summary.missingRuns.isEmpty { lines.append("  \(summary.missingRuns.count) runs have no result (interrupted?)") }
        return lines.joined(separator: "\n")
    }
}
