import Foundation
import HandoverCore
import HandoverSupport

/// Builds the summary from a plan and the results found in the folder; used after every
/// finished run of a matrix and by `handover report`.
public enum MatrixSummaryBuilder {
    public static func build(plan: MatrixPlan, folder: URL, startedAt: Date, finishedAt: Date, host: String) -> MatrixSummary {
        var cells: [MatrixCell] = []
        var missing: [String] = []
        var accelerators = Set<String>()
        for (index, cell) in plan.cells.enumerated() {
            var records: [MatrixRunRecord] = []
            for run in plan.runs where run.cell == index {
                let resultURL = folder.appendingPathComponent(run.folder).appendingPathComponent("result.json")
                guard let result = try? JSONCoding.decode(RunResult.self, from: resultURL) else {
                    missing.append(run.id)
                    continue
                }
                accelerators.insert(result.accelerator.rawValue)
                let console = folder.appendingPathComponent(run.folder).appendingPathComponent("console.log")
                records.append(MatrixRunRecord(
                    id: run.id, scenario: cell.scenario, chain: cell.chain, repeatIndex: run.repeatIndex,
                    verdict: result.verdict, failureClass: result.failureClass, reason: result.reason, evidence: result.evidence,
                    blackout: result.blackout?.total, hopBlackouts: result.hops.map { $0.blackout?.total },
                    wallSeconds: result.wallSeconds, resultPath: "\(run.folder)/result.json",
                    consolePath: FileManager.default.fileExists(atPath: console.path) ? "\(run.folder)/console.log" : nil,
                    consoleTail: result.consoleTail, vmBlackout: result.vm?.blackout, vmSeconds: result.vmSeconds,
                    setupSeconds: result.setup?.seconds, phases: result.blackout?.phaseSeconds, contention: result.contention,
                    blackoutDetail: result.blackout, payload: result.payload))
                records[records.count - 1].guestBlackout = result.guestBlackout
            }
            guard !records.isEmpty else { continue }
            let worst = records.max { $0.verdict < $1.verdict }!
            cells.append(MatrixCell(
                scenario: cell.scenario, kind: cell.kind, chain: cell.chain, releases: cell.releases, direction: cell.direction,
                verdict: worst.verdict, failureClass: worst.failureClass, reason: worst.reason, evidence: worst.evidence,
                runs: records, blackout: Statistics(records.compactMap(\.blackout)), prediction: cell.prediction,
                vmBlackout: Statistics(records.compactMap(\.vmBlackout)), regressions: [], unsupportedAllowed: plan.allowUnsupported,
                arch: cell.arch))
        }
        var summary = MatrixSummary(
            name: plan.name, matrixFile: plan.matrixFile, startedAt: startedAt, finishedAt: finishedAt,
            accelerator: accelerators.sorted().joined(separator: "+").isEmpty ? "none" : accelerators.sorted().joined(separator: "+"),
            host: host, handoverVersion: HandoverVersion.tool, regressionThreshold: plan.regressionThreshold,
            baseline: nil, cells: cells, missingRuns: missing)
        summary.disagreements = disagreements(cells)
        return summary
    }

    /// Where a memfd scenario and the selftests reach opposite conclusions about one chain:
    /// one passes, the other fails. Unsupported and error say nothing either way.
    package static func disagreements(_ cells: [MatrixCell]) -> [Disagreement] {
        var result: [Disagreement] = []
        for own in cells where own.kind == ScenarioKind.memfd.rawValue {
            for upstream in cells where upstream.kind == ScenarioKind.selftest.rawValue && upstream.chain == own.chain {
                let verdicts = Set([own.verdict, upstream.verdict])
                guard verdicts == [.pass, .fail] else { continue }
                let passing = own.verdict == .pass ? own : upstream
                let failing = own.verdict == .pass ? upstream : own
                result.append(Disagreement(
                    chain: own.chain, scenario: own.scenario, scenarioVerdict: own.verdict, selftests: upstream.scenario,
                    selftestVerdict: upstream.verdict,
                    message: "\(passing.scenario) passes but \(failing.scenario) fails (\(failing.failureClass?.rawValue ?? "fail")) for \(own.chain.joined(separator: " -> ")): \(failing.reason)"))
            }
        }
        return result
    }
}
