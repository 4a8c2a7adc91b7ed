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

    /// How a VM that ended early or a harness error ends this test.
    mutating func record(_ error: any Error) {
        if let ended = error as? CommandDriver.Ended {
            status = ended.status
            failureClass = ended.failureClass
            message = ended.reason
            evidence = ended.evidence
        } else {
            status = .error
            failureClass = .infrastructure
            message = "\(error)"
        }
    }
}
