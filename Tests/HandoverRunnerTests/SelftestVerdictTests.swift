import Foundation
@testable import HandoverCore
import HandoverTestSupport
@testable import HandoverResults
@testable import HandoverRuns
@testable import HandoverSupport
import Testing

/// The selftest kind's verdict from its tests' outcomes.
@Suite("Selftest verdicts")
struct SelftestVerdictTests {
    static let scenario = try! Scenario.parse(text: "kind: selftest\ntests: [luo_kexec_simple, luo_multi_session, luo_stress_files]\nioctl-suite: false\n",
                                              file: "selftests.yaml")
    static let chain = SampleImages.recordedPair

    static func twoStage(_ test: String, _ status: SelftestOutcome.Status, message: String = "", exits: [Int32] = [0, 0]) -> SelftestOutcome {
        SelftestOutcome(test: test, kind: "two-stage", kernels: chain.map(\.recipe), status: status, failureClass: nil, message: message,
                        stages: zip(chain, exits).map { SelftestOutcome.Stage(kernel: $0.recipe, arguments: [], exitCode: $1, timedOut: false, seconds: 1, outputTail: []) },
                        subtests: [])
    }

    static func judge(_ outcomes: [SelftestOutcome]) -> RunResult {
        let options = RunOptions(accelerator: .tcg, acceleratorReason: "test")
        let session = SelftestSession(scenario: scenario, from: chain[0], to: chain[1], options: options,
                                      progress: ProgressReporter(mode: .quiet, isTerminal: false))
        var result = RunResult.unfinished(scenario, chain: chain, options: options)
        session.judge(outcomes, into: &result)
        return result
    }

    @Test func everyTwoStageTestPassingInBothStagesPasses() {
        let result = Self.judge([Self.twoStage("luo_kexec_simple", .pass), Self.twoStage("luo_multi_session", .pass), Self.twoStage("luo_stress_files", .pass)])
        #expect(result.verdict == .pass, "\(result.reason)")
        #expect(result.reason.contains("all 3 two-stage tests passed in both stages"))
    }

    @Test func oneTwoStageTestSkippedIsUnsupportedWithTheReason() {
        let result = Self.judge([Self.twoStage("luo_kexec_simple", .pass),
                                 Self.twoStage("luo_multi_session", .skip, message: "stage 1 in linux-7.2: exit 4 (SKIP: no /dev/liveupdate)", exits: [4]),
                                 Self.twoStage("luo_stress_files", .pass)])
        #expect(result.verdict == .unsupported)
        #expect(result.failureClass == nil)
        #expect(result.reason.contains("1 of 3 selftests skipped: luo_multi_session (stage 1 in linux-7.2: exit 4 (SKIP: no /dev/liveupdate))"), "\(result.reason)")
    }

    @Test func aTestThatDidNotRunIsAnError() {
        let result = Self.judge([Self.twoStage("luo_kexec_simple", .pass), Self.twoStage("luo_stress_files", .pass)])
        #expect(result.verdict == .error && result.failureClass == .infrastructure)
        #expect(result.reason.contains("luo_multi_session did not run"))
    }

    @Test func aPassWithoutBothStagesIsAnError() {
        let result = Self.judge([Self.twoStage("luo_kexec_simple", .pass, exits: [0]), Self.twoStage("luo_multi_session", .pass),
                                 Self.twoStage("luo_stress_files", .pass)])
        #expect(result.verdict == .error, "\(result.reason)")
    }

    @Test func aFailureStillWinsOverASkip() {
        var failed = Self.twoStage("luo_stress_files", .fail, message: "stage 2 in linux-7.3: exit 1", exits: [0, 1])
        failed.failureClass = .selftestFailed
        let result = Self.judge([Self.twoStage("luo_kexec_simple", .skip, exits: [4]), Self.twoStage("luo_multi_session", .pass), failed])
        #expect(result.verdict == .fail && result.failureClass == .selftestFailed)
    }
}
