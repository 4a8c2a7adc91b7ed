import Foundation
@testable import HandoverCore
import Testing
@testable import HandoverResults
@testable import HandoverReports

@Suite struct DisagreementTests {
    func cell(_ scenario: String, kind: String, chain: [String], verdict: Verdict, failureClass: FailureClass? = nil) -> MatrixCell {
        MatrixCell(scenario: scenario, kind: kind, chain: chain, releases: chain, direction: .upgrade, verdict: verdict,
                   failureClass: failureClass, reason: "\(scenario) said \(verdict.rawValue)", evidence: nil, runs: [],
                   blackout: nil, prediction: nil, regressions: [], unsupportedAllowed: true)
    }

    @Test func passAgainstFailIsADisagreement() {
        let cells = [
            cell("memfd-basic", kind: "memfd", chain: ["a", "b"], verdict: .pass),
            cell("upstream-selftests", kind: "selftest", chain: ["a", "b"], verdict: .fail, failureClass: .selftestFailed),
            cell("memfd-basic", kind: "memfd", chain: ["b", "a"], verdict: .pass),
            cell("upstream-selftests", kind: "selftest", chain: ["b", "a"], verdict: .pass),
        ]
        let found = MatrixSummaryBuilder.disagreements(cells)
        #expect(found.count == 1)
        #expect(found.first?.chain == ["a", "b"])
        #expect(found.first?.selftestVerdict == .fail)
        #expect(found.first?.message.contains("upstream-selftests fails (selftest-failed)") == true)
    }

    @Test func unsupportedOrErrorIsNoOpinion() {
        let cells = [
            cell("memfd-basic", kind: "memfd", chain: ["a", "b"], verdict: .unsupported),
            cell("upstream-selftests", kind: "selftest", chain: ["a", "b"], verdict: .fail),
            cell("memfd-basic", kind: "memfd", chain: ["b", "a"], verdict: .error),
            cell("upstream-selftests", kind: "selftest", chain: ["b", "a"], verdict: .pass),
            cell("memfd-many", kind: "memfd", chain: ["c", "d"], verdict: .fail),
            cell("memfd-basic", kind: "memfd", chain: ["c", "d"], verdict: .pass),
        ]
        #expect(MatrixSummaryBuilder.disagreements(cells).isEmpty)
    }

    @Test func theHTMLReportShowsADisagreement() throws {
        var summary = MatrixSummary(name: "m", matrixFile: "m.yaml", startedAt: Date(), finishedAt: Date(), accelerator: "tcg",
                                    host: "h", handoverVersion: "0", regressionThreshold: 0.1, baseline: nil,
                                    cells: [cell("memfd-basic", kind: "memfd", chain: ["a", "b"], verdict: .pass),
                                            cell("upstream-selftests", kind: "selftest", chain: ["a", "b"], verdict: .fail)],
                                    missingRuns: [])
        summary.disagreements = MatrixSummaryBuilder.disagreements(summary.cells)
        let html = try HTMLReport.html(summary)
        #expect(html.contains("scenarios and the kernel's selftests disagree"))
        #expect(html.contains("upstream-selftests fails"))
    }
}
