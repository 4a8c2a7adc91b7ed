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
        /// The runner's judgement: the guest continued exactly where it stopped.
        public var continued: Bool?
        public var explanation: String?
        /// What the runner compared to say so.
        public var continuity: Continuity?

        package init(
            from: String,
            to: String,
            blackout: Double? = nil,
            counterAtPause: UInt64? = nil,
            firstCounterAfter: UInt64? = nil,
            beforeQuiesce: Double? = nil,
            afterResumed: Double? = nil,
            continued: Bool? = nil,
            explanation: String? = nil,
            continuity: Continuity? = nil
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
            self.continuity = continuity
        }
    }

    /// One hop's continuity as the runner compared it: the pause from the old kernel's messages
    /// (vcpu-stopped and the registers saved), the resume from the new kernel's (the state memfd's
    /// counter, the registers KVM gave back after restoring them, the counter word in RAM, the
    /// first report after).
    public struct Continuity: Codable, Sendable, Equatable {
        public var counterAtPause: UInt64
        public var expectedFirstCounter: UInt64
        public var firstCounterAfter: UInt64
        public var stateCounter: UInt64
        public var counterInMemory: UInt32
        public var registersAtPause: [String: UInt64]
        public var registersRestored: [String: UInt64]
        public var differingRegisters: [String]

        package init(counterAtPause: UInt64, expectedFirstCounter: UInt64, firstCounterAfter: UInt64, stateCounter: UInt64,
                     counterInMemory: UInt32, registersAtPause: [String: UInt64], registersRestored: [String: UInt64],
                     differingRegisters: [String]) {
            self.counterAtPause = counterAtPause
            self.expectedFirstCounter = expectedFirstCounter
            self.firstCounterAfter = firstCounterAfter
            self.stateCounter = stateCounter
            self.counterInMemory = counterInMemory
            self.registersAtPause = registersAtPause
            self.registersRestored = registersRestored
            self.differingRegisters = differingRegisters
        }
    }

    /// The guest's RAM at the end, as the runner judged it: the agent's SHA-256 per chunk against
    /// the runner's own model of the RAM (the fill from the scenario's seed, overlaid with what
    /// the guest program writes up to the final counter).
    public struct RAMComparison: Codable, Sendable, Equatable {
        public var stage: Int
        public var counter: UInt64
        public var bytes: Int
        public var chunkSize: Int
        /// SHA-256 over the chunk digests in order: the runner's model's and the agent's.
        public var modelDigest: String
        public var reportedDigest: String
        public var differingChunks: [Int]
        /// Where the agent located the first byte that differs from the model, when one does.
        public var firstDifference: UInt64?
        public var expected: UInt8?
        public var found: UInt8?
        public var differingBytes: Int?

        public var intact: Bool { differingChunks.isEmpty }

        package init(stage: Int, counter: UInt64, bytes: Int, chunkSize: Int, modelDigest: String, reportedDigest: String,
                     differingChunks: [Int], firstDifference: UInt64? = nil, expected: UInt8? = nil, found: UInt8? = nil,
                     differingBytes: Int? = nil) {
            self.stage = stage
            self.counter = counter
            self.bytes = bytes
            self.chunkSize = chunkSize
            self.modelDigest = modelDigest
            self.reportedDigest = reportedDigest
            self.differingChunks = differingChunks
            self.firstDifference = firstDifference
            self.expected = expected
            self.found = found
            self.differingBytes = differingBytes
        }
    }

    public var backing: Backing
    public var ramBytes: Int
    public var stages: [VMStageReport]
    public var hops: [Hop]
    public var ram: RAMComparison?

    /// The first hop's VM blackout.
    public var blackout: Double? { hops.first?.blackout }

    /// Guest iterations per second of vCPU time before the first pause and after the last resume.
    public var rateBefore: Double? { stages.first { $0.stage == 1 }?.iterationsPerSecond }
    public var rateAfter: Double? { stages.last(where: { $0.restored != nil })?.iterationsPerSecond }

    package init(
        backing: Backing,
        ramBytes: Int,
        stages: [VMStageReport],
        hops: [Hop],
        ram: RAMComparison? = nil
    ) {
        self.backing = backing
        self.ramBytes = ramBytes
        self.stages = stages
        self.hops = hops
        self.ram = ram
    }
}
