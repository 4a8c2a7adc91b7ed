import Foundation
@testable import HandoverCore
import Testing
import HandoverTestSupport
@testable import HandoverSupport
@testable import HandoverImages
@testable import HandoverMachines
@testable import HandoverResults
@testable import HandoverRuns


/// A kernel image as the verdict tests need one (no files behind it).

/// Feeds a stage-1 agent's messages to the tracker and returns what it concluded.
private func conclude(_ messages: [AgentMessage]) throws -> RunResult {
    let scenario = try Scenario.parse(text: """
        kind: iommufd
        objects:
          dma: {size: 64KiB, fill: {random: 1}}
        iommufd:
          mappings: [{object: dma, iova: 0x100000}]
        sessions:
          - name: s
            members: [{handle: iommufd, token: 1}, {handle: vfio-device, token: 2}, {object: dma, token: 3}]
        """, file: "s.yaml")
    let chain = [SampleImages.image("linux-7.3", release: "7.3.4"), SampleImages.image("linux-7.3", release: "7.3.4")]
    var tracker = RunTracker(scenario: scenario, chain: chain)
    var sent: [RunnerCommand] = []
    let progress = ProgressReporter(mode: .quiet, isTerminal: false)
    let hello = Hello(agentVersion: "0", protocolVersion: 1, stage: 1, kernelRelease: "7.3.4", bootID: "b", cmdline: "",
                      liveUpdateDevice: true, liveUpdateNumber: nil, previousRelease: nil, kexecCount: nil, uptimeAtStart: 1,
                      liveUpdateLog: [], bootMarks: [:])
    for (index, message) in ([.hello(hello)] + messages).enumerated() {
        tracker.handle(message, at: HostTime(nanoseconds: UInt64(index) * 1_000_000), reply: { sent.append($0) }, progress: progress)
    }
    #expect(sent.first == .start)
    var options = RunOptions(accelerator: .tcg, acceleratorReason: "test")
    options.backend = .qemu
    var result = RunResult.unfinished(scenario, chain: chain, options: options)
    tracker.conclude(into: &result)
    return result
}

private func step(_ step: AgentStep, ok: Bool, errno: Int32? = nil) -> AgentMessage {
    .step(StepReport(stage: 1, step: step, ok: ok, detail: step.wireName, errno: errno))
}

@Suite("Device scenario verdicts")
struct DeviceVerdictTests {
    @Test func preserveRefusedAfterSetupIsUnsupportedWithTheErrnoAndTheSteps() throws {
        let result = try conclude([
            step(.setup(.findDevice), ok: true), step(.setup(.allocIOAS), ok: true), step(.setup(.mapMemfd), ok: true),
            step(.preserveHandle, ok: false, errno: 2),
            .unsupported(reason: "kernel 7.3.4: SESSION_PRESERVE_FD refused the iommufd with ENOENT (no live update handler for this file type)", errno: 2),
        ])
        #expect(result.verdict == .unsupported)
        #expect(result.failureClass == nil)
        #expect(result.errno == 2)
        #expect(result.reason.contains("linux-7.3 (7.3.4) cannot preserve") && result.reason.contains("ENOENT"))
        #expect(result.steps.map(\.step.wireName) == ["find-pci-device", "ioas-alloc", "ioas-map-file", "preserve-fd"])
        #expect(result.machine?.contains("intel-iommu") == true)
    }

    @Test func aSetupStepThatCannotRunHereIsUnsupported() throws {
        let result = try conclude([step(.setup(.iommuGroup), ok: false, errno: 2),
                                   .unsupported(reason: "kernel 7.3.4: the PCI device has no IOMMU group", errno: 2)])
        #expect(result.verdict == .unsupported)
        #expect(result.reason.contains("no IOMMU group"))
    }

    @Test func aSetupStepThatShouldWorkIsAPreserveFailure() throws {
        let result = try conclude([step(.setup(.allocIOAS), ok: false, errno: 22),
                                   .failed(step: .setup(.allocIOAS), message: "IOMMU_IOAS_ALLOC: EINVAL", errno: 22)])
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .preserveFailed)
        #expect(result.reason.contains("IOMMU_IOAS_ALLOC: EINVAL"))
    }

    @Test func aMissingDeviceIsTheHarnessFault() throws {
        let result = try conclude([.failed(step: .topology, message: "no PCI device 1234:11e8 in this VM", errno: 19)])
        #expect(result.verdict == .error)
        #expect(result.failureClass == .infrastructure)
    }

    @Test func aSeriesKernelRefusingTheFileIsAPreserveFailure() throws {
        let result = try conclude([.failed(step: .preserve, message: "SESSION_PRESERVE_FD of the iommufd 'iommufd' with series iommufd-lu-2026-02: ENOENT", errno: 2)])
        #expect(result.verdict == .fail)
        #expect(result.failureClass == .preserveFailed)
    }

    @Test func nothingReportedIsNeverAPass() throws {
        let result = try conclude([step(.setup(.findDevice), ok: true)])
        #expect(result.verdict == .error)
    }
}
