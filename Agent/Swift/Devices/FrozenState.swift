import CLiveUpdate

import HandoverCore

/// Whether a preserved memfd's size is frozen: growing it must fail until FINISH.
/// Returns the refusal's errno name, or nil when the memfd could be resized.
func sizeFreezeRefusal(fd: Int32, spec: ObjectSpec) -> String? {
    ftruncate(fd, off_t(spec.size + 4096)) == 0 ? nil : errnoName(errno)
}

extension Agent {
    /// What the series promise once the files are preserved: a mapped memfd's size cannot
    /// change until FINISH. Reported as a step; a broken promise fails the run.
    func checkFrozen(_ devices: DevicePlan, plan: AgentPlan, objects: [String: Int32]) -> Bool {
        guard let setup = devices.iommufd else { return true }
        for mapping in setup.mappings {
            guard let fd = objects[mapping.object], let spec = plan.object(named: mapping.object) else { continue }
            let started = Machine.microseconds
            let refusal = sizeFreezeRefusal(fd: fd, spec: spec)
            port.send(.step(StepReport(stage: stage, step: .memfdSizeFrozen, ok: refusal != nil,
                                       detail: refusal.map { "ftruncate \(mapping.object) refused (\($0))" } ?? "ftruncate \(mapping.object) succeeded after preserve",
                                       microseconds: Machine.microseconds - started)))
            if refusal == nil {
                port.send(.failed(step: .preserve, message: "the preserved memfd \(mapping.object) could still be resized", errno: nil))
                return false
            }
        }
        return true
    }
}
