import HandoverCore
import HandoverResults

extension SelftestOutcome {
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
