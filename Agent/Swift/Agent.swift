import CLiveUpdate

import HandoverCore


/// The guest side of a run: PID 1 of every kernel in the chain.
final class Agent {
    static let planPath = "/handover/plan.json"

    let port: Port
    let stage: Int
    let plan: AgentPlan?
    /// Read when the hello is sent, which after a kexec is after `resumed`.
    lazy var kernelLog = KernelLog.read()
    /// A vm scenario's running guest; held through the kexec like the session fds.
    var guest: GuestVM?
    /// What was loaded from the initramfs's module list before anything else.
    let modules: [ModuleLoad]?

    init(port: Port, stage: Int, plan: AgentPlan?, modules: [ModuleLoad]?) {
        self.port = port
        self.stage = stage
        self.plan = plan
        self.modules = modules
    }

    func hello(cmdline: String, startedAt uptime: Double) -> Hello {
        let previous = kernelLog.previousKernel
        return Hello(
            agentVersion: HandoverVersion.tool, protocolVersion: HandoverVersion.protocolVersion, stage: stage,
            kernelRelease: Machine.release,
            bootID: Files.read("/proc/sys/kernel/random/boot_id")?.trimmed ?? "unknown",
            cmdline: cmdline, liveUpdateDevice: Files.exists("/dev/liveupdate"),
            liveUpdateNumber: kernelLog.liveUpdateNumber, previousRelease: previous?.release, kexecCount: previous?.count,
            uptimeAtStart: uptime, liveUpdateLog: kernelLog.liveUpdateLines, bootMarks: kernelLog.bootMarks,
            initcalls: kernelLog.initcalls, counter: kernelLog.counter, modules: modules)
    }

    func step(_ step: AgentStep, _ detail: String, started: Int) {
        port.send(.step(StepReport(stage: stage, step: step, ok: true, detail: detail, microseconds: Machine.microseconds - started)))
    }

    func fail(_ step: FailurePoint, _ error: SystemError) {
        port.send(.failed(step: step, message: error.description, errno: error.errno))
    }

    func crashIfInjected() {
        guard let plan, plan.injections.contains(.crash(stage: stage)) else { return }
        port.send(.log("injected crash in stage \(stage)"))
        abort()
    }

    /// Whether this stage hands over again (a chain A -> B -> A has a middle stage).
    var hasNextHop: Bool { plan.map { stage - 1 < $0.hops.count } ?? false }

    /// Waits for commands until told to power off. `verify` is answered in every stage that
    /// restored something; `start` in a middle stage of a chain hands the objects on.
    func serve(restored: Restored?) -> Never {
        var restored = restored
        while let command = port.nextCommand() {
            switch command {
            case .powerOff:
                Machine.powerOff()
            case .start:
                guard let current = restored, let plan, hasNextHop else {
                    port.send(.log("start ignored: stage \(stage) has no next kernel"))
                    continue
                }
                handOn(current, plan: plan)
                restored = nil
            case .exec(let request):
                port.send(.execResult(Exec.run(request)))
            case .kexecNext:
                guard let plan, hasNextHop else {
                    port.send(.failed(step: .kexecLoad, message: "stage \(stage) has no next kernel in the plan", errno: nil))
                    continue
                }
                kexecNext(plan.hops[stage - 1])
            case .verify(let before):
                guard let current = restored, let plan else {
                    port.send(.failed(step: .verify, message: "nothing was retrieved in this stage", errno: nil))
                    continue
                }
                verify(current, plan: plan, before: before)
                if plan.checks { port.send(.checks(Checks(plan: plan, restored: current).run())) }
                port.send(.done)
            }
        }
        console("handover-agent: the runner closed the channel; powering off")
        Machine.powerOff()
    }
}

@main
enum AgentMain {
    static func main() {
        if getpid() == 1 { Machine.mountEssentials() }
        let startedAt = Machine.uptime
        let modules = Modules.loadListed()
        Machine.raiseFileLimit()
        let cmdline = Files.read("/proc/cmdline")?.trimmed ?? ""
        let words = cmdline.split(separator: " ").map(String.init)
        func argument(_ name: String) -> String? {
            words.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
        let stage = argument("handover.stage").flatMap(Int.init) ?? 1
        if argument("handover.stall") != nil {
            // Fault injection: an init that never reaches the runner.
            while true { pause() }
        }
        let portName = argument("handover.port") ?? "/dev/ttyS1"
        let port: Port
        do {
            port = try Port.open(path: portName)
        } catch {
            console("handover-agent: cannot reach the runner: \(error.description); powering off")
            Machine.powerOff()
        }

        var plan: AgentPlan?
        if let bytes = Files.readBytes(Agent.planPath) {
            do {
                plan = try AgentPlan(json: JSON(parsing: bytes))
            } catch {
                port.send(.failed(step: .readPlan, message: "\(Agent.planPath) is not a valid plan: \(error)", errno: nil))
                Machine.powerOff()
            }
        }
        let agent = Agent(port: port, stage: stage, plan: plan, modules: modules)
        if let plan, plan.mode == .objects, stage > 1 {
            let restored = agent.restore(plan) { agent.hello(cmdline: cmdline, startedAt: startedAt) }
            if plan.injections.contains(.garbage(stage: stage)) { port.sendGarbage() }
            agent.serve(restored: restored)
        }
        port.send(.hello(agent.hello(cmdline: cmdline, startedAt: startedAt)))
        if plan?.injections.contains(.garbage(stage: stage)) == true { port.sendGarbage() }

        guard let plan, plan.mode == .objects else {
            // A selftest with a device: every kernel hands it to vfio-pci before a test runs (the
            // VFIO tests find the device through its vfio-pci cdev, in the second kernel too).
            if let setup = plan?.devices?.iommufd { agent.bindForCommands(setup) }
            agent.serve(restored: nil)
        }
        // Stage 1: the runner says when to begin, so it is listening before anything is timed.
        while let command = port.nextCommand() {
            if command == .start { break }
            if command == .powerOff { Machine.powerOff() }
        }
        agent.preserveAndKexec(plan, objects: nil)
        agent.serve(restored: nil)
    }
}
