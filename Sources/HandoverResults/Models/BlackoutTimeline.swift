import HandoverCore

/// The blackout as consecutive segments, in the order they happen: the old kernel's part, the
/// jump, the new kernel's boot (by step when initcalls were recorded), the agent's start, the
/// restore and what no phase explains. What reports draw and print.
public struct TimelineSegment: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case oldKernel, jump, shutdown, early, initcall, otherInitcalls, between, initramfsWait, toInit, kernelBoot,
             agentStart, restore, unaccounted
    }

    public var name: String
    public var kind: Kind
    public var seconds: Double
}

extension Blackout {
    public var timeline: [TimelineSegment] {
        var segments: [TimelineSegment] = []
        func add(_ name: String, _ kind: TimelineSegment.Kind, _ value: Double?) {
            if let value { segments.append(TimelineSegment(name: name, kind: kind, seconds: value)) }
        }
        if let oldKernel, let jump {
            add("old kernel: quiesce to \"Starting new kernel\"", .oldKernel, oldKernel)
            add("jump: purgatory, decompression, early set-up to the first console line", .jump, jump)
        } else {
            add("shutdown and jump to the new kernel's clock zero", .shutdown, shutdown)
        }
        if let steps = kernelBootSteps, !steps.isEmpty {
            for step in steps {
                let kind: TimelineSegment.Kind = switch step.kind {
                case .early: .early
                case .initcall: .initcall
                case .otherInitcalls: .otherInitcalls
                case .between: .between
                case .initramfsWait: .initramfsWait
                case .toInit: .toInit
                }
                add("kernel boot: \(step.name)", kind, step.seconds)
            }
        } else {
            add("kernel boot to /init" + (initramfsUnpack.map { String(format: " (unpacking the initramfs %.0f ms of it, beside the initcalls)", $0 * 1000) } ?? ""),
                .kernelBoot, kernelBoot)
        }
        add("agent start", .agentStart, agentStart)
        add("restore", .restore, restore)
        add("unaccounted", .unaccounted, unaccounted)
        return segments
    }
}
