import Foundation
import HandoverCore

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

    /// Problems with a chain that show before anything boots.
    public static func validate(_ scenario: Scenario, chain: [KernelImage]) throws {
        if scenario.kind == .selftest, chain.count != 2 {
            throw HarnessError(.notFound, "\(scenario.name): the upstream selftests run across a pair, not a chain of \(chain.count) kernels")
        }
    }
}
