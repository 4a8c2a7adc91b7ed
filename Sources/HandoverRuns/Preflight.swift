import Foundation
import HandoverCore
import HandoverSupport

/// What a run asks for, checked against what its scenario's kind can do, before any image is
/// built or any VM boots. `run` and `matrix` both go through here, so an option is either
/// honoured by every kind or refused with a message; never silently dropped.
public struct Preflight: Sendable {
    public var scenario: Scenario
    /// How many kernels the run crosses: 2 for a pair, more for a chain.
    public var kernels: Int
    public var injections: [Injection] = []
    public var repeats = 1
    public var overallTimeout: TimeInterval?
    public var memoryMiB: Int?
    /// --initcalls and --quiet-console: the agent's kinds only (the selftests boot their own way).
    public var initcalls = false
    public var quietConsole = false

    public init(scenario: Scenario, kernels: Int) {
        self.scenario = scenario
        self.kernels = kernels
    }

    /// The kinds that honour fault injections: those the agent drives through stages.
    static func injectable(_ kind: Scenario.Kind) -> Bool { kind != .selftest }

    /// Throws an InputError (exit 2, "bad input") naming the option that cannot be honoured.
    public func check(source: String = "command line") throws {
        func refuse(_ key: String, _ message: String) -> InputError {
            // On the command line the option's name, in a matrix file its key.
            InputError(file: source, keyPath: source == "command line" ? "--\(key)" : key, message: "\(scenario.name) (kind \(scenario.kind.rawValue)): \(message)")
        }
        if scenario.kind == .selftest, kernels != 2 {
            throw refuse("via", "the upstream selftests run across a pair, not a chain of \(kernels) kernels")
        }
        if !injections.isEmpty, !Self.injectable(scenario.kind) {
            throw refuse("inject", "fault injection is not supported for the upstream selftests (the kernel's own test programs run there, not handover's agent stages); inject into a memfd, iommufd or guest-memfd scenario")
        }
        if initcalls, scenario.kind == .selftest {
            throw refuse("initcalls", "initcall attribution splits the blackout the agent measures; the upstream selftests have none")
        }
        if quietConsole, scenario.kind == .selftest {
            throw refuse("quiet-console", "the upstream selftests are read from the console; it cannot be quiet")
        }
        for injection in injections {
            switch injection {
            case .flipByte(let object, let offset):
                guard let spec = scenario.objects.first(where: { $0.name == object }) else {
                    let names = scenario.objects.map(\.name).joined(separator: ", ")
                    throw refuse("inject", "flip-byte: there is no object '\(object)'" + (names.isEmpty ? "" : " (objects: \(names))"))
                }
                guard offset < spec.size else {
                    throw refuse("inject", "flip-byte: offset \(offset) is beyond \(object)'s \(spec.size) bytes")
                }
            case .corruptVCPU(let stage):
                guard scenario.devices?.vm != nil else { throw refuse("inject", "corrupt-vcpu: this scenario runs no VM (only kind vm does)") }
                guard (2...max(2, kernels)).contains(stage), stage <= kernels else {
                    throw refuse("inject", "corrupt-vcpu:\(stage): the vCPU is restored in stages 2 to \(kernels) of this run")
                }
            case .crash(let stage), .stall(let stage), .noInit(let stage), .garbage(let stage):
                guard stage <= kernels else {
                    throw refuse("inject", "stage \(stage) does not exist: the run crosses \(kernels) kernels (stages 1 to \(kernels))")
                }
            }
        }
        guard (1...1000).contains(repeats) else { throw refuse("repeat", "takes 1 to 1000, not \(repeats)") }
        if let overallTimeout, overallTimeout <= 0 { throw refuse("timeout", "must be positive") }
        if let memoryMiB, memoryMiB < 64 { throw refuse("memory", "\(memoryMiB) MiB is too little for a guest (64 MiB at least)") }
    }
}
