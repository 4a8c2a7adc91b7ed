import Foundation
import HandoverCore
import HandoverImages
import HandoverMachines

/// The kernel as a result names it: enough to reproduce the run.
public struct ImageRef: Codable, Sendable, Equatable {
    public var recipe: String
    public var kernelRelease: String
    public var version: String
    public var key: String
    public var liveUpdate: Bool
    /// The image's architecture; absent for x86_64 (results recorded before architectures
    /// existed read the same as new x86_64 ones).
    public var arch: String?

    public init(_ image: KernelImage) {
        arch = image.arch == .default ? nil : image.arch.rawValue
        recipe = image.recipe
        kernelRelease = image.kernelRelease
        version = image.versionLabel
        key = image.key
        liveUpdate = image.hasLiveUpdate
    }
}

/// One kexec of a chain (a pair has one).
public struct HopResult: Codable, Sendable, Equatable {
    public var from: String
    public var to: String
    public var toRelease: String
    public var blackout: Blackout?
    public var objectsIntact: Int
    public var objectsTotal: Int
    public var checks: [CheckResult]
    /// A vm scenario's guest: its own blackout for this hop.
    public var vmBlackout: Double?
    /// The host's CPU contention over this hop's blackout window.
    public var contention: HostContention? = nil
    /// With guest timing: this hop's blackout on the guest's own clock.
    public var guestBlackout: Blackout? = nil

    package init(
        from: String,
        to: String,
        toRelease: String,
        blackout: Blackout? = nil,
        objectsIntact: Int,
        objectsTotal: Int,
        checks: [CheckResult],
        vmBlackout: Double? = nil,
        contention: HostContention? = nil,
        guestBlackout: Blackout? = nil
    ) {
        self.from = from
        self.to = to
        self.toRelease = toRelease
        self.blackout = blackout
        self.objectsIntact = objectsIntact
        self.objectsTotal = objectsTotal
        self.checks = checks
        self.vmBlackout = vmBlackout
        self.contention = contention
        self.guestBlackout = guestBlackout
    }
}

public struct ObjectResult: Codable, Sendable, Equatable {
    public var object: String
    public var session: String
    public var token: UInt64
    public var ok: Bool
    public var properties: [PropertyOutcome]


    package init(

        object: String,

        session: String,

        token: UInt64,

        ok: Bool,

        properties: [PropertyOutcome]

    ) {

        self.object = object

        self.session = session

        self.token = token

        self.ok = ok

        self.properties = properties

    }
}

/// What one stage's kernel was given to boot: its initramfs (the agent, the plan and, before a
/// kexec, the next kernel and its initramfs).
public struct StagePayload: Codable, Sendable, Equatable {
    public var stage: Int
    public var kernel: String
    public var initramfsBytes: Int

    package init(
        stage: Int,
        kernel: String,
        initramfsBytes: Int
    ) {
        self.stage = stage
        self.kernel = kernel
        self.initramfsBytes = initramfsBytes
    }
}

/// One run of a scenario across one kernel pair.
public struct RunResult: Codable, Sendable {
    public static let schema = 1

    public var schema = RunResult.schema
    public var handoverVersion = HandoverVersion.tool
    public var scenario: String
    public var scenarioFile: String
    public var scenarioDigest: String
    public var from: ImageRef
    public var to: ImageRef
    /// Kernels between from and to, for a chain (A -> B -> A has B here and A as `to`).
    public var via: [ImageRef] = []
    public var accelerator: Accelerator
    public var acceleratorReason: String
    /// Where the VM ran: "qemu" or "libvirt URI".
    public var backend: String = "qemu"
    /// The clock the run was timed for; absent in results recorded before guest timing (host).
    public var timing: Timing?
    public var verdict: Verdict
    public var failureClass: FailureClass?
    /// One sentence a person reads first.
    public var reason: String
    /// The kernel line that explains a failure, when there is one.
    public var evidence: String?
    public var prediction: HandoverPrediction
    public var hellos: [Hello] = []
    public var steps: [StepReport] = []
    public var objects: [ObjectResult] = []
    public var checks: [CheckResult] = []
    /// The first hop's blackout on the host clock; `hops` has each hop's.
    public var blackout: Blackout?
    /// With guest timing: the first hop's blackout on the guest's own clock (virtual seconds
    /// under icount), beside the host-clock one.
    public var guestBlackout: Blackout?
    /// A vm scenario's guest: its progress, checks and its own blackout per hop.
    public var vm: VMResult?
    /// The initramfs bytes of each stage.
    public var payload: [StagePayload]?
    /// Whether the kernels after the first booted with initcall_debug, and with a quiet console.
    public var initcalls: Bool?
    public var quietConsole: Bool?
    /// The host's CPU contention over the first hop's blackout window.
    public var contention: HostContention?
    public var hops: [HopResult] = []
    /// For a selftest scenario: each upstream test's outcome.
    public var selftests: [SelftestOutcome] = []
    /// Whose tree the selftests were built from.
    public var selftestSource: String?
    public var consoleTail: [String] = []
    public var startedAt: Date
    public var wallSeconds: Double = 0
    /// Host seconds from the VM's start (QEMU's spawn, a libvirt domain's resume) to its end.
    public var vmSeconds: Double?
    /// What the backend did before the VM started (uploads, the domain's start), not VM time.
    public var setup: MachineSetup?
    public var runDirectory: String?
    /// For an unsupported verdict: the errno the kernel gave, when one did.
    public var errno: Int32?
    /// The VM beyond CPU and memory ("q35 with intel-iommu and edu"), for device scenarios.
    public var machine: String?
    /// For guest_memfd scenarios: whether the host let the VM run KVM inside, and why.
    public var nestedVirtualization: NestedVirtualization?
    /// Not-yet-merged series the first kernel carries, whose ioctls the agent issued.
    public var series: [String]?

    public var summaryLine: String {
        var text = "\(verdict.rawValue.uppercased())"
        if let failureClass { text += " (\(failureClass.rawValue))" }
        let path = ([from] + via + [to]).map { "\($0.recipe) \($0.kernelRelease)" }.joined(separator: " -> ")
        text += " \(scenario): \(path) under \(accelerator.rawValue)"
        if let blackout { text += String(format: ", blackout %.3f s (host clock)", blackout.total) }
        if let guestBlackout { text += String(format: ", %.4f s (guest clock)", guestBlackout.total) }
        if let vmBlackout = vm?.blackout { text += String(format: ", VM blackout %.3f s", vmBlackout) }
        return text
    }

    package init(
        scenario: String,
        scenarioFile: String,
        scenarioDigest: String,
        from: ImageRef,
        to: ImageRef,
        via: [ImageRef] = [],
        accelerator: Accelerator,
        acceleratorReason: String,
        backend: String = "qemu",
        verdict: Verdict,
        failureClass: FailureClass? = nil,
        reason: String,
        evidence: String? = nil,
        prediction: HandoverPrediction,
        hellos: [Hello] = [],
        steps: [StepReport] = [],
        objects: [ObjectResult] = [],
        checks: [CheckResult] = [],
        blackout: Blackout? = nil,
        vm: VMResult? = nil,
        payload: [StagePayload]? = nil,
        initcalls: Bool? = nil,
        quietConsole: Bool? = nil,
        contention: HostContention? = nil,
        hops: [HopResult] = [],
        selftests: [SelftestOutcome] = [],
        selftestSource: String? = nil,
        consoleTail: [String] = [],
        startedAt: Date,
        wallSeconds: Double = 0,
        vmSeconds: Double? = nil,
        setup: MachineSetup? = nil,
        runDirectory: String? = nil,
        errno: Int32? = nil,
        machine: String? = nil,
        nestedVirtualization: NestedVirtualization? = nil,
        series: [String]? = nil
    ) {
        self.scenario = scenario
        self.scenarioFile = scenarioFile
        self.scenarioDigest = scenarioDigest
        self.from = from
        self.to = to
        self.via = via
        self.accelerator = accelerator
        self.acceleratorReason = acceleratorReason
        self.backend = backend
        self.verdict = verdict
        self.failureClass = failureClass
        self.reason = reason
        self.evidence = evidence
        self.prediction = prediction
        self.hellos = hellos
        self.steps = steps
        self.objects = objects
        self.checks = checks
        self.blackout = blackout
        self.vm = vm
        self.payload = payload
        self.initcalls = initcalls
        self.quietConsole = quietConsole
        self.contention = contention
        self.hops = hops
        self.selftests = selftests
        self.selftestSource = selftestSource
        self.consoleTail = consoleTail
        self.startedAt = startedAt
        self.wallSeconds = wallSeconds
        self.vmSeconds = vmSeconds
        self.setup = setup
        self.runDirectory = runDirectory
        self.errno = errno
        self.machine = machine
        self.nestedVirtualization = nestedVirtualization
        self.series = series
    }
}

/// Several runs of the same pair, with blackout statistics.
public struct RepeatedRunResult: Codable, Sendable {
    public var schema = RunResult.schema
    public var scenario: String
    public var from: ImageRef
    public var to: ImageRef
    public var accelerator: Accelerator
    /// The worst verdict of the runs.
    public var verdict: Verdict
    public var runs: [RunResult]
    public var blackout: Statistics?
    public var phases: [String: Statistics]
    /// A vm scenario's own blackout (the guest's last exit before the pause to its first after).
    public var vmBlackout: Statistics?
    /// With guest timing: the blackout and its phases on the guest's clock.
    public var guestBlackout: Statistics?
    public var guestPhases: [String: Statistics]?

    public init(runs: [RunResult]) {
        let first = runs[0]
        scenario = first.scenario
        from = first.from
        to = first.to
        accelerator = first.accelerator
        verdict = runs.map(\.verdict).max()!
        self.runs = runs
        let blackouts = runs.compactMap(\.blackout)
        blackout = Statistics(blackouts.map(\.total))
        phases = Self.phaseStatistics(blackouts)
        vmBlackout = Statistics(runs.compactMap { $0.vm?.blackout })
        let guest = runs.compactMap(\.guestBlackout)
        guestBlackout = Statistics(guest.map(\.total))
        guestPhases = guest.isEmpty ? nil : Self.phaseStatistics(guest)
    }

    static func phaseStatistics(_ blackouts: [Blackout]) -> [String: Statistics] {
        var phases: [String: Statistics] = [:]
        let named: [(String, KeyPath<Blackout, Double?>)] = [
            ("shutdown", \.shutdown), ("kernelBoot", \.kernelBoot), ("agentStart", \.agentStart),
            ("restore", \.restore), ("unaccounted", \.unaccounted), ("oldKernel", \.oldKernel), ("jump", \.jump),
            ("initramfsUnpack", \.initramfsUnpack), ("attributedShare", \.attributedShare),
        ]
        for (name, path) in named {
            if let stats = Statistics(blackouts.compactMap { $0[keyPath: path] }) { phases[name] = stats }
        }
        return phases
    }
}
