import CLiveUpdate

import HandoverCore

/// A setup step the kernel or the VM refused, with what was missing.
struct SetupRefusal: Error {
    var step: SetupStep
    var errno: Int32?
    var detail: String
}

extension Agent {
    /// Runs one setup step and reports it, with its duration, whichever way it ends.
    func setupStep<T>(_ step: SetupStep, _ body: () throws(SetupRefusal) -> (T, String)) throws(SetupRefusal) -> T {
        let started = Machine.microseconds
        do {
            let (value, detail) = try body()
            port.send(.step(StepReport(stage: stage, step: .setup(step), ok: true, detail: detail, microseconds: Machine.microseconds - started)))
            return value
        } catch {
            port.send(.step(StepReport(stage: stage, step: .setup(step), ok: false, detail: error.detail, errno: error.errno,
                                       errnoName: error.errno.map(errnoName), microseconds: Machine.microseconds - started)))
            throw error
        }
    }

    func skippedStep(_ step: SetupStep, _ detail: String) {
        port.send(.step(StepReport(stage: stage, step: .setup(step), ok: false, detail: detail, skipped: true)))
    }

    /// Creates what the plan's devices need in the first kernel and returns the files it opened
    /// by handle. On a refusal, tells the runner what it means (SetupPolicy) and returns nil.
    func setUpDevices(_ devices: DevicePlan, plan: AgentPlan, objects: inout [String: Int32]) -> [Handle: Int32]? {
        var handles: [Handle: Int32] = [:]
        do {
            if let iommufd = devices.iommufd {
                try IommufdDriver(agent: self).setUp(iommufd, devices: devices, objects: objects, handles: &handles)
            }
            if let kvm = devices.kvm {
                try KVMDriver(agent: self).setUp(kvm, plan: plan, objects: &objects, handles: &handles)
            }
        } catch {
            reportRefusal(error)
            return nil
        }
        return handles
    }

    /// Tells the runner that a setup step was refused, as unsupported when SetupPolicy calls it a
    /// capability absence; the runner checks that against the step report and its errno.
    func reportRefusal(_ error: SetupRefusal) {
        switch SetupPolicy.consequence(of: error.step, errno: error.errno, release: Machine.release, detail: error.detail) {
        case .unsupported(let reason):
            port.send(.unsupported(reason: reason, errno: error.errno))
        case .fail, .error:
            port.send(.failed(step: .setup(error.step), message: error.detail, errno: error.errno))
        }
    }
}

/// A C shim result as a SetupRefusal.
@discardableResult
func require(_ step: SetupStep, _ call: String, _ value: Int32) throws(SetupRefusal) -> Int32 {
    if value < 0 { throw SetupRefusal(step: step, errno: -value, detail: "\(call): \(errnoName(-value))") }
    return value
}

func hexString(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
