/// Where the agent gave up. The runner decides a failure's class from this, by an exhaustive
/// switch: a new failure point does not compile until the runner says what it means. On the
/// wire it is the string `wireName` ("setup:STEP" for a device setup step).
public enum FailurePoint: Sendable, Equatable, Hashable {
    /// /handover/plan.json is not a valid plan.
    case readPlan
    /// The plan does not fit this stage (no next kernel).
    case plan
    case create
    case fingerprint
    case preserve
    /// A device setup step that should have worked.
    case setup(SetupStep)
    /// The VM the harness built lacks a device it was meant to have.
    case topology
    case kexecLoad
    case kexec
    case openLiveUpdate
    case retrieve
    case verify
    /// A vm scenario's guest misbehaved (an exit not its program's, a report out of sequence).
    case vm
    /// A vm scenario's saved vCPU state came back changed.
    case vmState
    /// A vm scenario's guest could not be rebuilt or run in the new kernel.
    case vmResume

    static let plain: [FailurePoint] = [.readPlan, .plan, .create, .fingerprint, .preserve, .topology, .kexecLoad, .kexec,
                                        .openLiveUpdate, .retrieve, .verify, .vm, .vmState, .vmResume]
    public static var allCases: [FailurePoint] { plain + SetupStep.allCases.map(FailurePoint.setup) }

    public var wireName: String {
        switch self {
        case .readPlan: "read-plan"
        case .plan: "plan"
        case .create: "create"
        case .fingerprint: "fingerprint"
        case .preserve: "preserve"
        case .setup(let step): "setup:\(step.rawValue)"
        case .topology: "topology"
        case .kexecLoad: "kexec-load"
        case .kexec: "kexec"
        case .openLiveUpdate: "open-liveupdate"
        case .retrieve: "retrieve"
        case .verify: "verify"
        case .vm: "vm"
        case .vmState: "vm-state"
        case .vmResume: "vm-resume"
        }
    }

    public init?(wireName: String) {
        if wireName.hasPrefix("setup:") {
            guard let step = SetupStep(rawValue: String(wireName.dropFirst(6))) else { return nil }
            self = .setup(step)
            return
        }
        guard let point = Self.plain.first(where: { $0.wireName == wireName }) else { return nil }
        self = point
    }
}

extension FailurePoint: JSONConvertible {
    public var json: JSON { .string(wireName) }

    public init(json: JSON) throws(JSONError) {
        let name = try String(json: json)
        guard let point = FailurePoint(wireName: name) else { throw JSONError("unknown failure point '\(name)'") }
        self = point
    }
}
