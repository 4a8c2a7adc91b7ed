import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverResults

/// Runs any kind of scenario across a chain of kernels.
public enum ScenarioRunner {
    public static func run(_ scenario: Scenario, chain: [KernelImage], options: RunOptions, progress: ProgressReporter) async -> RunResult {
        switch scenario.kind {
        case .memfd, .iommufd, .guestMemfd, .vm:
            return await RunSession(scenario: scenario, chain: chain, options: options, progress: progress).run()
        case .selftest:
            return await SelftestSession(scenario: scenario, from: chain[0], to: chain[chain.count - 1], options: options, progress: progress).run()
        }
    }

    /// Problems with a chain that show before anything boots (see Preflight for the options).
    public static func validate(_ scenario: Scenario, chain: [KernelImage]) throws {
        try Preflight(scenario: scenario, kernels: chain.count).check()
    }
}
