import HandoverCore

/// A message the agent must send for a run to be judged, in the stage it must come from. A run
/// whose agent left one out is never a pass: the step it stands for may not have happened.
enum ExpectedMessage: Hashable, Sendable {
    case hello(stage: Int)
    case step(AgentStep, stage: Int)
    case fingerprints(stage: Int)
    case quiesce(stage: Int)
    case resumed(stage: Int)
    case checks(stage: Int)
    case done(stage: Int)
    case vcpuStopped(stage: Int)
    case vcpuRunning(stage: Int)
    case vmReport(stage: Int)
    case ramReport(stage: Int)

    var stage: Int {
        switch self {
        case .hello(let stage), .step(_, let stage), .fingerprints(let stage), .quiesce(let stage), .resumed(let stage),
             .checks(let stage), .done(let stage), .vcpuStopped(let stage), .vcpuRunning(let stage), .vmReport(let stage),
             .ramReport(let stage):
            stage
        }
    }

    var name: String {
        switch self {
        case .hello: "hello"
        case .step(let step, _): "step '\(step.wireName)'"
        case .fingerprints: "fingerprints"
        case .quiesce: "quiesce"
        case .resumed: "resumed"
        case .checks: "checks"
        case .done: "done"
        case .vcpuStopped: "vcpu-stopped"
        case .vcpuRunning: "vcpu-running"
        case .vmReport: "vm report"
        case .ramReport: "vm report with the guest's RAM"
        }
    }

    /// What a run of `scenario` over `stages` kernels must hear from its agent, stage by stage.
    static func required(by scenario: Scenario, stages: Int) -> [ExpectedMessage] {
        let vm = scenario.devices?.vm != nil
        var stage1: [ExpectedMessage] = [.hello(stage: 1)]
        if scenario.objects.contains(where: { $0.backing == nil }) { stage1.append(.step(.create, stage: 1)) }
        if scenario.devices?.kvm != nil {
            stage1 += [SetupStep.cpuVirtualization, .openKVM, .createVM].map { .step(.setup($0), stage: 1) }
            if scenario.objects.contains(where: { $0.backing == .guestMemfd }) {
                stage1 += [SetupStep.guestMemfdCapability, .createGuestMemfd, .fillGuestMemfd].map { .step(.setup($0), stage: 1) }
            }
        }
        if vm {
            stage1 += [SetupStep.vmMemorySlot, .vmCreateVCPU, .vmRun].map { .step(.setup($0), stage: 1) }
        }
        stage1 += [.step(.fingerprint, stage: 1), .fingerprints(stage: 1)]
        var expected = stage1 + handOver(stage: 1, vm: vm)
        for stage in 2...stages {
            expected += [.resumed(stage: stage), .hello(stage: stage), .step(.verify, stage: stage), .fingerprints(stage: stage),
                         .done(stage: stage)]
            if scenario.checks { expected.append(.checks(stage: stage)) }
            if vm { expected += [.vcpuRunning(stage: stage), .vmReport(stage: stage)] }
            if stage < stages {
                expected.append(.step(.finish, stage: stage))
                expected += handOver(stage: stage, vm: vm)
            } else if vm {
                expected += [.step(.vmVerifyRAM, stage: stage), .ramReport(stage: stage)]
            }
        }
        return expected
    }

    /// A stage that pauses the guest (if any), preserves and kexecs.
    private static func handOver(stage: Int, vm: Bool) -> [ExpectedMessage] {
        var expected: [ExpectedMessage] = []
        if vm { expected += [.vcpuStopped(stage: stage), .step(.setup(.vmPause), stage: stage), .vmReport(stage: stage)] }
        return expected + [.step(.preserve, stage: stage), .step(.kexecLoad, stage: stage), .quiesce(stage: stage)]
    }
}
