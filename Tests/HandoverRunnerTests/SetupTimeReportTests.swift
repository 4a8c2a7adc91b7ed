import Foundation
@testable import HandoverCore
import Testing
@testable import HandoverMachines
@testable import HandoverResults
@testable import HandoverReports


/// A run's set-up (libvirt's uploads and domain start) is shown beside its VM time, as a
/// figure of its own.
@Suite("set-up time in reports")
struct SetupTimeReportTests {
    func summary(_ runs: [MatrixRunRecord]) -> MatrixSummary {
        let chain = ["linux-7.2", "linux-7.3"]
        let cell = MatrixCell(
            scenario: "memfd-basic", chain: chain, releases: ["7.2.13", "7.3.4"], direction: .upgrade, verdict: .pass,
            failureClass: nil, reason: "all objects intact", evidence: nil, runs: runs,
            blackout: Statistics(runs.compactMap(\.blackout)), prediction: nil, regressions: [], unsupportedAllowed: false)
        return MatrixSummary(
            name: "libvirt", matrixFile: "m.yaml", startedAt: Date(timeIntervalSince1970: 1_780_000_000),
            finishedAt: Date(timeIntervalSince1970: 1_780_000_100), accelerator: "tcg", host: "lab-1", handoverVersion: "0.4.0",
            regressionThreshold: 0.1, baseline: nil, cells: [cell], missingRuns: [])
    }

    func record(_ index: Int, vm: Double?, setup: Double?) -> MatrixRunRecord {
        let folder = "memfd-basic/linux-7.2--linux-7.3/rep-\(index)"
        var record = MatrixRunRecord(
            id: folder, scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3"], repeatIndex: index, verdict: .pass,
            failureClass: nil, reason: "all objects intact", evidence: nil, blackout: 0.5, hopBlackouts: [0.5],
            wallSeconds: 15.04, resultPath: "\(folder)/result.json", consolePath: nil, consoleTail: [])
        record.vmSeconds = vm
        record.setupSeconds = setup
        return record
    }

    /// The table row of one run in the cell's details.
    func row(_ html: String, run index: Int) throws -> String {
        let rows = html.components(separatedBy: "<tr>").filter { $0.contains("<td class=\"num\">\(index)") }
        return try #require(rows.first, "no row for run \(index)")
    }

    @Test("the runs table has set-up and VM columns beside the wall time")
    func columns() throws {
        let html = try HTMLReport.html(summary([record(1, vm: 13.42, setup: 0.318), record(2, vm: 13.9, setup: 0)]))
        #expect(html.contains("<th>set-up</th><th>VM</th><th>wall</th>"))
        let first = try row(html, run: 1)
        #expect(first.contains("<td class=\"num\">0.32 s</td><td class=\"num\">13.4 s</td><td class=\"num\">15.0 s</td>"), "\(first)")
        let second = try row(html, run: 2)
        #expect(second.contains("<td class=\"num\">0.00 s</td><td class=\"num\">13.9 s</td>"), "\(second)")
    }

    @Test("results from before set-up was recorded leave the cells empty")
    func olderResults() throws {
        let html = try HTMLReport.html(summary([record(1, vm: nil, setup: nil)]))
        #expect(try row(html, run: 1).contains("<td class=\"num\"></td><td class=\"num\"></td><td class=\"num\">15.0 s</td>"))
    }

    @Test("a run result carries its set-up apart from its VM time, and older results without it still decode")
    func resultField() throws {
        let setup = MachineSetup(seconds: 0.5, steps: [.init(name: "upload kernel", seconds: 0.2, detail: "uploaded 3.1 MB"),
                                                       .init(name: "create domain", seconds: 0.25)])
        let encoded = try JSONEncoder().encode(setup)
        #expect(try JSONDecoder().decode(MachineSetup.self, from: encoded) == setup)
        #expect(setup.description == "0.50 s (upload kernel 0.20 s: uploaded 3.1 MB, create domain 0.25 s)")
        let record = try JSONDecoder().decode(MatrixRunRecord.self, from: JSONEncoder().encode(record(1, vm: nil, setup: nil)))
        #expect(record.setupSeconds == nil && record.vmSeconds == nil)
    }
}
