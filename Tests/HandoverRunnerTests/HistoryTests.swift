import Foundation
import GRDB
@testable import HandoverCore
import Testing
@testable import HandoverSupport
@testable import HandoverResults
@testable import HandoverHistory


/// 2026-05-01 02:00:00 UTC; whole seconds, so summaries survive summary.json's ISO 8601 dates.
private let night = Date(timeIntervalSince1970: 1_777_600_800)
private let day: TimeInterval = 86_400

private func runRecord(
    _ scenario: String, _ chain: [String], repeatIndex: Int, verdict: Verdict, failureClass: FailureClass?, blackout: Double?
) -> MatrixRunRecord {
    let folder = "runs/\(scenario)/\(chain.joined(separator: "--"))/rep-\(repeatIndex)"
    return MatrixRunRecord(
        id: "\(scenario)/\(chain.joined(separator: "--"))/rep-\(repeatIndex)", scenario: scenario, chain: chain,
        repeatIndex: repeatIndex, verdict: verdict, failureClass: failureClass,
        reason: verdict == .pass ? "all objects intact" : "memfd contents differ", evidence: nil, blackout: blackout,
        hopBlackouts: [blackout], wallSeconds: 42.5, resultPath: "\(folder)/result.json",
        consolePath: "\(folder)/console.log", consoleTail: verdict == .pass ? [] : ["[  1.0] luo: retrieve failed"])
}

/// A cell whose runs have these blackouts (seconds), one run per value (one run without a
/// blackout when the list is empty).
private func cell(
    _ scenario: String = "memfd-basic", _ chain: [String] = ["linux-7.2", "linux-7.3"], verdict: Verdict = .pass,
    failureClass: FailureClass? = nil, blackouts: [Double] = [0.8]
) -> MatrixCell {
    let values: [Double?] = blackouts.isEmpty ? [nil] : blackouts
    let runs = values.enumerated().map {
        runRecord(scenario, chain, repeatIndex: $0.offset + 1, verdict: verdict, failureClass: failureClass, blackout: $0.element)
    }
    return MatrixCell(
        scenario: scenario, chain: chain, releases: chain.map { $0.replacingOccurrences(of: "linux-", with: "") + ".0" },
        direction: .upgrade, verdict: verdict, failureClass: failureClass, reason: runs[0].reason, evidence: nil,
        runs: runs, blackout: Statistics(runs.compactMap(\.blackout)), prediction: nil, regressions: [],
        unsupportedAllowed: false)
}

/// Five repeats around `median` (spread ±2%), whose median is exactly `median`.
private func repeats(_ median: Double) -> [Double] {
    [0, -0.01, 0.01, -0.02, 0.02].map { median * (1 + $0) }
}

private func summary(
    _ name: String = "nightly", startedAt: Date, accelerator: String = "kvm", cells: [MatrixCell]
) -> MatrixSummary {
    MatrixSummary(
        name: name, matrixFile: "matrices/\(name).yaml", startedAt: startedAt, finishedAt: startedAt + 3600,
        accelerator: accelerator, host: "ci-1", handoverVersion: "0.1.0", regressionThreshold: 0.1, baseline: nil,
        cells: cells, missingRuns: [])
}

/// A history in a fresh temporary folder (which does not exist yet, so the store creates it).
private func withStore<T>(_ body: (HistoryStore, URL) throws -> T) throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("history-tests-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("nested/history.sqlite")
    let store = try HistoryStore(path: path)
    return try body(store, path)
}

private func mode(of path: URL) -> mode_t {
    var info = stat()
    guard stat(path.path, &info) == 0 else { return 0 }
    return info.st_mode & 0o777
}

@Suite struct HistoryTests {
    // MARK: Store

    @Test func lastGoodFindsTheNewestEarlierPassUnderTheSameAccelerator() throws {
        try withStore { store, _ in
            try store.record(summary(startedAt: night, cells: [cell(blackouts: [0.8, 0.9, 0.7])]), id: "m1")
            try store.record(summary(startedAt: night + day, cells: [cell(verdict: .fail, failureClass: .stateMismatch)]), id: "m2")
            try store.record(summary(startedAt: night + 2 * day, accelerator: "tcg", cells: [cell(blackouts: [3.0])]), id: "m3")
            try store.record(summary(startedAt: night + 5 * day, cells: [cell(blackouts: [1.5])]), id: "m4")

            let found = try #require(try store.lastGood(
                scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3"], before: night + 3 * day, accelerator: "kvm"))
            #expect(found.matrixRunId == "m1")
            #expect(found.verdict == .pass)
            #expect(found.accelerator == "kvm")
            #expect(found.blackoutMedian == 0.8)
            #expect(found.blackoutCount == 3)
            #expect(found.runs.map(\.repeatIndex) == [1, 2, 3])
            #expect(found.chain == ["linux-7.2", "linux-7.3"])

            // Under tcg only the tcg run counts.
            let tcg = try store.lastGood(
                scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3"], before: night + 3 * day, accelerator: "tcg")
            #expect(tcg?.matrixRunId == "m3")
            // Later runs are found once they are earlier; a run is not earlier than itself.
            let later = try store.lastGood(
                scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3"], before: night + 6 * day, accelerator: "kvm")
            #expect(later?.matrixRunId == "m4")
            let itself = try store.lastGood(
                scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3"], before: night + 5 * day, accelerator: "kvm")
            #expect(itself?.matrixRunId == "m1")
            let excluded = try store.lastGood(
                scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3"], before: night + 6 * day, accelerator: "kvm",
                excluding: "m4")
            #expect(excluded?.matrixRunId == "m1")
            #expect(try store.lastGood(
                scenario: "memfd-basic", chain: ["linux-7.2", "linux-7.3"], before: night, accelerator: "kvm") == nil)
            // Another chain or scenario has no baseline.
            #expect(try store.lastGood(
                scenario: "memfd-basic", chain: ["linux-7.3", "linux-7.2"], before: night + 6 * day, accelerator: "kvm") == nil)
            #expect(try store.lastGood(
                scenario: "memfd-large", chain: ["linux-7.2", "linux-7.3"], before: night + 6 * day, accelerator: "kvm") == nil)

            let runs = try store.matrixRuns()
            #expect(runs.map(\.id) == ["m4", "m3", "m2", "m1"])
            #expect(try store.matrixRuns(limit: 2).map(\.id) == ["m4", "m3"])
            #expect(runs[2].verdictCounts == ["fail": 1])
            #expect(runs[2].exitCode == 1)
            #expect(runs[3].exitCode == 0)
            #expect(runs[3].cellCount == 1)
            #expect(runs[3].startedAt == night)
        }
    }

    @Test func lastGoodFallsBackToUnsupportedOnlyWhenTheCellNeverPassed() throws {
        try withStore { store, _ in
            let chain = ["linux-6.18", "linux-7.3"]
            try store.record(summary(startedAt: night, cells: [
                cell("memfd-basic", chain, verdict: .unsupported, blackouts: []),
                cell("memfd-large", chain, verdict: .fail, failureClass: .stateMismatch),
            ]), id: "m1")
            let unsupported = try store.lastGood(scenario: "memfd-basic", chain: chain, before: night + day, accelerator: "kvm")
            #expect(unsupported?.matrixRunId == "m1")
            #expect(unsupported?.verdict == .unsupported)
            #expect(unsupported?.blackout == nil)
            // A failure is never a baseline.
            #expect(try store.lastGood(scenario: "memfd-large", chain: chain, before: night + day, accelerator: "kvm") == nil)

            // Once it passed, an older pass wins over a newer unsupported.
            try store.record(summary(startedAt: night + day, cells: [cell("memfd-basic", chain, blackouts: [0.5])]), id: "m2")
            try store.record(summary(startedAt: night + 2 * day, cells: [
                cell("memfd-basic", chain, verdict: .unsupported, blackouts: []),
            ]), id: "m3")
            let pass = try store.lastGood(scenario: "memfd-basic", chain: chain, before: night + 3 * day, accelerator: "kvm")
            #expect(pass?.matrixRunId == "m2")
            #expect(pass?.verdict == .pass)
        }
    }

    @Test func phasesAndContentionSurviveTheHistory() throws {
        try withStore { store, _ in
            var recorded = cell(blackouts: repeats(6.0))
            recorded.runs[0].phases = ["shutdown": 2.9, "kernelBoot": 2.1]
            recorded.runs[1].contention = HostContention(window: 6, cpuSomeShare: 0.8, cpuSomeAvg10: 0.5, steal: 0)
            try store.record(summary(startedAt: night, cells: [recorded]), id: "m1")
            let stored = try #require(try store.summary(id: "m1"))
            #expect(stored.cells[0].runs[0].phases == ["shutdown": 2.9, "kernelBoot": 2.1])
            #expect(stored.cells[0].runs[1].contention?.disturbed == true)
            #expect(stored.summary.cells[0].blackoutSamples.filter(\.disturbed).count == 1)
        }
    }

    @Test func recordingAnIdAgainReplacesIt() throws {
        try withStore { store, _ in
            let first = summary(startedAt: night, cells: [
                cell("memfd-basic", blackouts: [0.8, 0.9]),
                cell("memfd-large", blackouts: [1.1, 1.2]),
            ])
            let second = summary(startedAt: night + 60, cells: [
                cell("memfd-basic", verdict: .fail, failureClass: .newKernelPanic, blackouts: [0.9]),
            ])
            try store.record(first, id: "m1")
            try store.record(first, id: "m1")
            try store.record(second, id: "m1")

            #expect(try store.matrixRuns().map(\.id) == ["m1"])
            let counts = try store.dbQueue.read { db in
                (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM matrixRun") ?? -1,
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM cell") ?? -1,
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM run") ?? -1)
            }
            #expect(counts == (1, 1, 1))
            let stored = try #require(try store.summary(id: "m1"))
            #expect(stored.summary == second)

            #expect(try store.delete(id: "m1"))
            let left = try store.dbQueue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM run") ?? -1 }
            #expect(left == 0)
            #expect(try store.summary(id: "m1") == nil)
        }
    }

    @Test func aSummaryWithACellTwiceIsRejectedWithoutAPartialRecord() throws {
        try withStore { store, _ in
            let broken = summary(startedAt: night, cells: [cell(), cell()])
            #expect(throws: HarnessError.self) { try store.record(broken, id: "m1") }
            let recorded = try store.matrixRuns()
            #expect(recorded.isEmpty)
        }
    }

    @Test func theStoredSummaryIsTheRecordedOne() throws {
        try withStore { store, _ in
            var original = summary(startedAt: night, cells: [
                cell("memfd-basic", blackouts: [0.8, 0.9, 1.4]),
                cell("memfd-large", ["linux-7.3", "linux-7.2"], verdict: .fail, failureClass: .stateMismatch, blackouts: [2.0]),
                cell("memfd-basic", ["linux-6.18", "linux-7.3"], verdict: .unsupported, blackouts: []),
            ])
            original.baseline = "last good run of each cell under accelerator kvm: m0 (1 cell)"
            original.missingRuns = ["memfd-large/linux-7.3--linux-7.2/rep-2"]
            original.cells[1].regressions = [Regression(
                kind: .verdict, message: "verdict pass → fail (state-mismatch) since m0", baselineMatrix: "m0",
                baselineValue: "pass", newValue: "fail (state-mismatch)")]
            try store.record(original, id: "m1")
            let stored = try #require(try store.summary(id: "m1"))
            #expect(stored.summary == original)
            #expect(stored.info.exitCode == 2)
            #expect(stored.info.verdictCounts == ["pass": 1, "fail": 1, "unsupported": 1])
        }
    }

    @Test func theDatabaseFileIsPrivate() throws {
        try withStore { store, path in
            try store.record(summary(startedAt: night, cells: [cell()]), id: "m1")
            #expect(mode(of: path) == 0o600)
            #expect(mode(of: path.deletingLastPathComponent()) == 0o700)
            // An existing file that others could read is made private when opened.
            chmod(path.path, 0o644)
            #expect(mode(of: path) == 0o644)
            let reopened = try HistoryStore(path: path)
            #expect(mode(of: path) == 0o600)
            #expect(try reopened.matrixRuns().map(\.id) == ["m1"])
        }
    }

    @Test func defaultPathFollowsTheEnvironment() {
        #expect(HistoryStore.defaultPath(environment: ["HANDOVER_HISTORY": "/srv/h.sqlite", "XDG_DATA_HOME": "/x", "HOME": "/home/u"]).path
            == "/srv/h.sqlite")
        #expect(HistoryStore.defaultPath(environment: ["XDG_DATA_HOME": "/x", "HOME": "/home/u"]).path
            == "/x/handover/history.sqlite")
        #expect(HistoryStore.defaultPath(environment: ["XDG_DATA_HOME": "relative", "HOME": "/home/u"]).path
            == "/home/u/.local/share/handover/history.sqlite")
        #expect(HistoryStore.defaultPath(environment: ["HOME": "/home/u"]).path
            == "/home/u/.local/share/handover/history.sqlite")
    }

    // MARK: Regressions

    private func baseline(_ cell: MatrixCell) -> StoredCell {
        StoredCell(cell: cell, matrixRunId: "m1", matrixName: "nightly", startedAt: night, accelerator: "kvm")
    }

    @Test func passToFailIsAVerdictRegression() throws {
        let regressions = RegressionCheck.regressions(
            cell: cell(verdict: .fail, failureClass: .stateMismatch), baseline: baseline(cell()),
            baselineLabel: "nightly-0501", threshold: 0.10)
        try #require(regressions.count == 1)
        #expect(regressions[0].kind == .verdict)
        #expect(regressions[0].message == "verdict pass → fail (state-mismatch) since nightly-0501")
        #expect(regressions[0].baselineValue == "pass")
        #expect(regressions[0].newValue == "fail (state-mismatch)")
        #expect(regressions[0].baselineMatrix == "m1")
    }

    @Test func anotherFailureClassIsAVerdictRegression() {
        let old = cell(verdict: .fail, failureClass: .stateMismatch)
        let regressions = RegressionCheck.regressions(
            cell: cell(verdict: .fail, failureClass: .newKernelPanic), baseline: baseline(old), baselineLabel: nil, threshold: 0.10)
        #expect(regressions.map(\.kind) == [.verdict])
        #expect(regressions.first?.message == "verdict fail (state-mismatch) → fail (new-kernel-panic) since m1")
        #expect(RegressionCheck.regressions(cell: old, baseline: baseline(old), baselineLabel: nil, threshold: 0.10).isEmpty)
    }

    @Test func aBlackoutGrowthOverTheThresholdIsARegression() throws {
        let regressions = RegressionCheck.regressions(
            cell: cell(blackouts: repeats(1.0)), baseline: baseline(cell(blackouts: repeats(0.8))), baselineLabel: "m1", threshold: 0.10)
        try #require(regressions.count == 1)
        #expect(regressions[0].kind == .blackout)
        #expect(regressions[0].message.contains("800.0 ms → 1000.0 ms"))
        #expect(regressions[0].message.contains("regressed: +25.0% [90% interval +"))
        #expect(regressions[0].message.contains("5 vs 5 repeats"))
        #expect(regressions[0].baselineValue == "800.0 ms")
        #expect(regressions[0].newValue == "1000.0 ms")
    }

    @Test func aSmallGrowthOrAnImprovementIsNoRegression() {
        let base = baseline(cell(blackouts: repeats(0.8)))
        #expect(RegressionCheck.regressions(cell: cell(blackouts: repeats(0.84)), baseline: base, baselineLabel: "m1", threshold: 0.10).isEmpty)
        #expect(RegressionCheck.regressions(cell: cell(blackouts: repeats(0.5)), baseline: base, baselineLabel: "m1", threshold: 0.10).isEmpty)
        // The same 5% is one at a 1% threshold: the threshold is what decides.
        #expect(RegressionCheck.regressions(cell: cell(blackouts: repeats(0.84)), baseline: base, baselineLabel: "m1", threshold: 0.01).count == 1)
        // One repeat a side says nothing about the noise: not judged, not flagged.
        #expect(RegressionCheck.regressions(cell: cell(blackouts: [1.6]), baseline: baseline(cell(blackouts: [0.8])), baselineLabel: "m1", threshold: 0.10).isEmpty)
        let judged = RegressionCheck.judge(cell: cell(blackouts: [1.6]), baseline: baseline(cell(blackouts: [0.8])), baselineLabel: "m1", threshold: 0.10)
        #expect(judged.change?.finding == .notJudged)
        let recovered = baseline(cell(verdict: .fail, failureClass: .stateMismatch))
        #expect(RegressionCheck.regressions(cell: cell(), baseline: recovered, baselineLabel: "m1", threshold: 0.10).isEmpty)
    }

    @Test func withoutABaselineThereAreNoRegressions() {
        let broken = cell(verdict: .error, failureClass: .infrastructure, blackouts: repeats(9.0))
        #expect(RegressionCheck.regressions(cell: broken, baseline: nil, baselineLabel: "m1", threshold: 0.10).isEmpty)
        #expect(RegressionCheck.regressions(cell: broken, baseline: baseline(cell(blackouts: repeats(0.8))), baselineLabel: "m1", threshold: 0.10).count == 2)
    }

    @Test func applyFillsRegressionsFromTheHistory() throws {
        try withStore { store, _ in
            try store.record(summary(startedAt: night, cells: [
                cell("memfd-basic", blackouts: [0.8]),
                cell("memfd-large", blackouts: [1.0]),
                cell("memfd-huge", blackouts: repeats(2.0)),
            ]), id: "m1")
            // A faster run under another accelerator must not be the baseline.
            try store.record(summary(startedAt: night + day, accelerator: "tcg", cells: [
                cell("memfd-basic", blackouts: [0.1]),
            ]), id: "m2")
            var new = summary(startedAt: night + 2 * day, cells: [
                cell("memfd-basic", blackouts: [0.82]),
                cell("memfd-large", verdict: .fail, failureClass: .stateMismatch, blackouts: [1.0]),
                cell("memfd-huge", blackouts: repeats(3.0)),
                cell("memfd-new", blackouts: [5.0]),
            ])
            try RegressionCheck.apply(to: &new, store: store, threshold: 0.10)
            #expect(new.cells[0].regressions.isEmpty)
            #expect(new.cells[1].regressions.map(\.kind) == [.verdict])
            #expect(new.cells[1].regressions.first?.message == "verdict pass → fail (state-mismatch) since m1")
            #expect(new.cells[2].regressions.map(\.kind) == [.blackout])
            #expect(new.cells[2].blackoutChange?.finding == .regressed)
            #expect(new.cells[3].regressions.isEmpty)
            #expect(new.cells[3].blackoutChange == nil)
            #expect(new.baseline == "last good run of each cell under accelerator kvm: m1 (3 cells); 1 cell without a baseline")
            #expect(new.exitCode == 1)

            // Recorded and checked again, it is not its own baseline.
            try store.record(new, id: "m3")
            var again = new
            again.startedAt = night + 3 * day
            try RegressionCheck.apply(to: &again, store: store, threshold: 0.10, excluding: "m3")
            #expect(again.cells[2].regressions.map(\.kind) == [.blackout])
            try RegressionCheck.apply(to: &again, store: store, threshold: 0.10)
            #expect(again.cells[2].regressions.isEmpty)
        }
    }

    @Test func applyWithAnEmptyHistorySaysSo() throws {
        try withStore { store, _ in
            var new = summary(startedAt: night, cells: [cell()])
            new.cells[0].regressions = [Regression(kind: .blackout, message: "stale", baselineMatrix: nil, baselineValue: "", newValue: "")]
            try RegressionCheck.apply(to: &new, store: store, threshold: 0.10)
            #expect(new.cells[0].regressions.isEmpty)
            #expect(new.baseline == "no earlier good run of these cells under accelerator kvm in the history")
        }
    }

    // MARK: Comparison

    @Test func compareCoversChangedAddedAndRemovedCells() throws {
        let base = summary(startedAt: night, cells: [
            cell("memfd-basic", blackouts: repeats(0.8)),
            cell("memfd-large", blackouts: repeats(1.0)),
            cell("memfd-old", blackouts: [1.0]),
            cell("memfd-flaky", verdict: .fail, failureClass: .bootTimeout, blackouts: []),
        ])
        let new = summary(startedAt: night + day, cells: [
            cell("memfd-basic", blackouts: repeats(1.0)),
            cell("memfd-large", blackouts: repeats(1.02)),
            cell("memfd-flaky", blackouts: [0.5]),
            cell("memfd-added", verdict: .fail, failureClass: .stateMismatch, blackouts: [0.7]),
        ])
        let comparisons = MatrixComparison.compare(base: base, new: new, threshold: 0.10)
        #expect(comparisons.map(\.scenario) == ["memfd-basic", "memfd-large", "memfd-flaky", "memfd-added", "memfd-old"])
        #expect(comparisons.map(\.note) == ["regressed (blackout)", "unchanged", "improved (verdict)", "added", "removed"])

        let basic = comparisons[0]
        #expect(basic.baseMedian == 0.8)
        #expect(basic.newMedian == 1.0)
        let change = try #require(basic.change)
        #expect(abs(change - 25) < 1e-9)
        #expect(basic.regressions.map(\.kind) == [.blackout])
        #expect(basic.regressions.first?.message.hasSuffix("since nightly of 2026-05-01T02:00:00Z") == true)

        let added = comparisons[3]
        #expect(added.baseVerdict == nil)
        #expect(added.newVerdict == .fail)
        #expect(added.regressions.isEmpty)
        let removed = comparisons[4]
        #expect(removed.baseVerdict == .pass)
        #expect(removed.newVerdict == nil)
        #expect(removed.baseMedian == 1.0)

        let text = MatrixComparison.text(comparisons)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].hasPrefix("CELL"))
        #expect(lines[0].contains("NEW MEDIAN"))
        #expect(lines[1].hasPrefix("memfd-basic: linux-7.2 -> linux-7.3"))
        #expect(lines[1].contains("800.0 ms"))
        #expect(lines[1].contains("+25.0%"))
        #expect(lines[4].contains("fail (state-mismatch)"))
        #expect(lines[4].hasSuffix("added"))
        #expect(lines[5].hasSuffix("removed"))
        #expect(text.contains("5 cells: 1 regressed, 1 added, 1 removed"))
        #expect(text.contains("Regressions:\n  memfd-basic: linux-7.2 -> linux-7.3: blackout median 800.0 ms → 1000.0 ms"))
        // The columns line up: every row starts its BASE column where the header does.
        let column = try #require(lines[0].range(of: "BASE")).lowerBound.utf16Offset(in: lines[0])
        for line in lines[1...5] {
            #expect(line.count > column)
            let index = line.index(line.startIndex, offsetBy: column)
            #expect(line[line.index(before: index)] == " ")
            #expect(line[index] != " ")
        }
    }

    @Test func loadSummaryReadsAFolderOrAHistoryId() throws {
        try withStore { store, path in
            let original = summary(startedAt: night, cells: [
                cell("memfd-basic", blackouts: [0.8, 0.85]),
                cell("memfd-large", verdict: .fail, failureClass: .stateMismatch, blackouts: []),
            ])
            let folder = path.deletingLastPathComponent().appendingPathComponent("results")
            try AtomicFile.writeJSON(original, to: folder.appendingPathComponent("summary.json"))
            #expect(try MatrixComparison.loadSummary(folder.path, store: nil) == original)
            #expect(try MatrixComparison.loadSummary(folder.appendingPathComponent("summary.json").path, store: nil) == original)

            var other = original
            other.name = "weekly"
            try store.record(other, id: "weekly-18")
            #expect(try MatrixComparison.loadSummary("weekly-18", store: store) == other)

            #expect(throws: HarnessError.self) { try MatrixComparison.loadSummary("weekly-18", store: nil) }
            #expect(throws: HarnessError.self) { try MatrixComparison.loadSummary("weekly-99", store: store) }
            let empty = path.deletingLastPathComponent().appendingPathComponent("empty")
            try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
            #expect(throws: HarnessError.self) { try MatrixComparison.loadSummary(empty.path, store: store) }
        }
    }
}

/// What a summary rebuilt from the history must keep, and how the history holds up when two
/// matrices write it at once or its file is not a database.
@Suite struct HistoryFidelityTests {
    /// A selftest cell disagreeing with a memfd cell on the same chain, fractional dates and
    /// blackouts: everything a summary.json can carry.
    func richSummary() -> MatrixSummary {
        var memfd = cell(verdict: .pass, blackouts: [0.8123456789, 0.9, 0.7])
        memfd.prediction = nil
        var selftest = cell("upstream-selftests", verdict: .fail, failureClass: .selftestFailed, blackouts: [])
        selftest.kind = "selftest"
        selftest.evidence = "liveupdate: stage 2 failed"
        var value = summary(startedAt: Date(timeIntervalSince1970: 1_777_600_800.123456), cells: [memfd, selftest])
        value.finishedAt = value.startedAt + 61.987654
        value.disagreements = MatrixSummaryBuilder.disagreements(value.cells)
        return value
    }

    @Test func aSummaryRebuiltFromHistoryEqualsTheOneWrittenAtTheTime() throws {
        try withStore { store, path in
            let written = richSummary()
            #expect(!written.disagreements.isEmpty, "the fixture should disagree")
            let file = path.deletingLastPathComponent().appendingPathComponent("summary.json")
            try AtomicFile.writeJSON(written, to: file)
            let onDisk = try JSONCoding.decode(MatrixSummary.self, from: file)
            try store.record(written, id: "m1")
            let rebuilt = try #require(try store.summary(id: "m1")).summary
            #expect(rebuilt == onDisk)
            #expect(rebuilt.cells.map(\.kind) == ["memfd", "selftest"])
            #expect(rebuilt.disagreements == onDisk.disagreements)
        }
    }

    @Test func twoWritersAtOnceBothRecord() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("history-concurrent-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("history.sqlite")
        // Two stores on one file are two connections, as two handover processes would have.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<2 {
                group.addTask {
                    let store = try HistoryStore(path: path)
                    for index in 0..<20 {
                        try store.record(summary(startedAt: night + Double(index), cells: [cell(blackouts: [0.5, 0.6])]), id: "w\(writer)-\(index)")
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try HistoryStore(path: path).matrixRuns().count == 40)
    }

    @Test func aCorruptHistoryIsAnErrorNamingTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("history-corrupt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("history.sqlite")
        try Data(repeating: 0x5a, count: 8192).write(to: path)
        do {
            _ = try HistoryStore(path: path)
            Issue.record("a corrupt history was opened")
        } catch let error as HarnessError {
            #expect(error.description.contains(path.path), "\(error)")
        }
    }
}
