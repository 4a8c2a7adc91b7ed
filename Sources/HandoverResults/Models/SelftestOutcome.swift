import Foundation
import HandoverCore

/// How one upstream selftest went across a pair (or in one kernel, for the ioctl suite).
public struct SelftestOutcome: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case pass, fail, skip, error }

    public struct Stage: Codable, Sendable, Equatable {
        public var kernel: String
        public var arguments: [String]
        public var exitCode: Int32?
        public var signal: Int32?
        public var timedOut: Bool
        public var seconds: Double
        public var outputTail: [String]
    

        package init(

            kernel: String,

            arguments: [String],

            exitCode: Int32? = nil,

            signal: Int32? = nil,

            timedOut: Bool,

            seconds: Double,

            outputTail: [String]

        ) {

            self.kernel = kernel

            self.arguments = arguments

            self.exitCode = exitCode

            self.signal = signal

            self.timedOut = timedOut

            self.seconds = seconds

            self.outputTail = outputTail

        }
}

    public var test: String
    /// two-stage (across a kexec) or ioctl-suite (one kernel).
    public var kind: String
    public var kernels: [String]
    public var status: Status
    public var failureClass: FailureClass?
    public var message: String
    public var evidence: String?
    public var stages: [Stage]
    public var subtests: [KTAPParser.Result]
    public var blackout: Double?

    package init(
        test: String,
        kind: String,
        kernels: [String],
        status: Status,
        failureClass: FailureClass? = nil,
        message: String,
        evidence: String? = nil,
        stages: [Stage],
        subtests: [KTAPParser.Result],
        blackout: Double? = nil
    ) {
        self.test = test
        self.kind = kind
        self.kernels = kernels
        self.status = status
        self.failureClass = failureClass
        self.message = message
        self.evidence = evidence
        self.stages = stages
        self.subtests = subtests
        self.blackout = blackout
    }
}
