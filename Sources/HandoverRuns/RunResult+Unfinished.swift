import Foundation
import HandoverCore
import HandoverImages
import HandoverMachines
import HandoverResults

extension RunResult {
    /// A result that says "error, did not finish" until the run fills it in, so a run that
    /// stops half way can never read as a pass.
    public static func unfinished(_ scenario: Scenario, chain: [KernelImage], options: RunOptions) -> RunResult {
        var result = RunResult(
            scenario: scenario.name, scenarioFile: scenario.file, scenarioDigest: scenario.digest,
            from: ImageRef(chain[0]), to: ImageRef(chain[chain.count - 1]), accelerator: options.accelerator,
            acceleratorReason: options.acceleratorReason, verdict: .error, failureClass: .infrastructure,
            reason: "the run did not finish", prediction: HandoverPrediction(from: chain[0], to: chain[1], needs: scenario.handlerNeeds), startedAt: Date())
        result.via = chain.dropFirst().dropLast().map(ImageRef.init)
        result.backend = options.backend.label
        result.timing = options.timing
        if options.initcalls { result.initcalls = true }
        if options.quietConsole { result.quietConsole = true }
        if scenario.devices != nil {
            result.machine = scenario.topology.description
            result.series = chain[0].carriedSeries.map(\.rawValue)
        }
        if scenario.devices?.kvm != nil { result.nestedVirtualization = NestedVirtualization.detect(options.accelerator) }
        return result
    }

}
