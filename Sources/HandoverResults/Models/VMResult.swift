import Foundation
import HandoverCore

/// A vm scenario's guest across the run: each stage's progress and checks, and each hop's
/// blackout as the VM itself saw it (its last exit before the pause to its first exit after
/// the resume, on the host clock), beside the agent's blackout.
public struct VMResult: Codable, Sendable, Equatable {
    public struct Hop: Codable, Sendable, Equatable {
        public var from: String
        public var to: String
        /// Host seconds from the vCPU's last exit before the pause to its first exit after the resume.
        public var blackout: Double?
        public var counterAtPause: UInt64?
        public var firstCounterAfter: UInt64?
        /// Host seconds from the VM's pause to the agent's quiesce (save, fingerprint, preserve,
        /// kexec load) and from the agent's resumed to the VM's first exit (rebuild, restore).
        public var beforeQuiesce: Double?
        public var afterResumed: Double?
        public var continued: Bool?
        public var explanation: String?
    
        package init(
            from: String,
            to: String,
            blackout: Double? = nil,
            counterAtPause: UInt64? = nil,
            firstCounterAfter: UInt64? = nil,
            beforeQuiesce: Double? = nil,
            afterResumed: Double? = nil,
            continued: Bool? = nil,
            explanation: String? = nil
        ) {
            self.from = from
            self.to = to
            self.blackout = blackout
            self.counterAtPause = counterAtPause
            self.firstCounterAfter = firstCounterAfter
            self.beforeQuiesce = beforeQuiesce
            self.afterResumed = afterResumed
            self.continued = continued
            self.explanation = explanation
        }
}

    public var backing: Backing
    public var ramBytes: Int
    public var stages: [VMStageReport]
    public var hops: [Hop]

    /// The first hop's VM blackout.
    public var blackout: Double? { hops.first?.blackout }

    /// Guest iterations per second of vCPU time before the first pause and after the last resume.
    public var rateBefore: Double? { stages.first { $0.stage == 1 }?.iterationsPerSecond }
    public var rateAfter: Double? { stages.last { $0.continuity != nil }?.iterationsPerSecond }

    package init(
        backing: Backing,
        ramBytes: Int,
        stages: [VMStageReport],
        hops: [Hop]
    ) {
        self.backing = backing
        self.ramBytes = ramBytes
        self.stages = stages
        self.hops = hops
    }
}
