import CLiveUpdate
import Glibc
import HandoverCore

extension Agent {
    /// What the series promise once the files are preserved: a mapped memfd's size and the
    /// IOAS mappings cannot change until FINISH. Reported as steps; a broken promise fails the run.
    func checkFrozen(_ devices: DevicePlan, plan: AgentPlan, objects: [String: Int32], handles: [Handle: Int32]) -> Bool {
        guard let setup = devices.iommufd else { return true }
        for mapping in setup.mappings {
            guard let fd = objects[mapping.object], let spec = plan.object(named: mapping.object) else { continue }
            let started = Machine.microseconds
            let grown = ftruncate(fd, off_t(spec.size + 4096))
            let frozen = grown != 0
            port.send(.step(StepReport(stage: stage, step: "memfd-size-frozen", ok: frozen,
                                       detail: frozen ? "ftruncate \(mapping.object) refused (\(errnoName(errno)))" : "ftruncate \(mapping.object) succeeded after preserve",
                                       microseconds: Machine.microseconds - started)))
            if !frozen {
                port.send(.failed(step: "preserve", message: "the preserved memfd \(mapping.object) could still be resized", errno: nil))
                return false
            }
        }
        return true
    }
}
