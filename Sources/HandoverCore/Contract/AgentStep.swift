/// A step the agent reports when it has done it (`StepReport.step`). Device setup steps are
/// cases, so a new step is a new case here and every switch over steps must say what it means.
public enum AgentStep: Sendable, Equatable, Hashable {
    case create
    case fingerprint
    case preserve
    /// A handle (iommufd, VFIO cdev, KVM VM) preserved beside the memfds, or refused.
    case preserveHandle
    case kexecLoad
    case verify
    /// The sessions ended (LIVEUPDATE_SESSION_FINISH) before the objects are handed on again.
    case finish
    /// A memfd mapped for DMA refused to change size while preserved.
    case memfdSizeFrozen
    /// A vm scenario's guest RAM checked against the guest's own progress.
    case vmVerifyRAM
    case setup(SetupStep)

    static let plain: [AgentStep] = [.create, .fingerprint, .preserve, .preserveHandle, .kexecLoad, .verify, .finish,
                                     .memfdSizeFrozen, .vmVerifyRAM]
    public static var allCases: [AgentStep] { plain + SetupStep.allCases.map(AgentStep.setup) }

    public var wireName: String {
        switch self {
        case .create: "create"
        case .fingerprint: "fingerprint"
        case .preserve: "preserve"
        case .preserveHandle: "preserve-fd"
        case .kexecLoad: "kexec-load"
        case .verify: "verify"
        case .finish: "finish"
        case .memfdSizeFrozen: "memfd-size-frozen"
        case .vmVerifyRAM: "vm-verify-ram"
        case .setup(let step): step.rawValue
        }
    }

    public init?(wireName: String) {
        if let step = SetupStep(rawValue: wireName) {
            self = .setup(step)
            return
        }
        guard let plain = Self.plain.first(where: { $0.wireName == wireName }) else { return nil }
        self = plain
    }
}

extension AgentStep: JSONConvertible {
    public var json: JSON { .string(wireName) }

    public init(json: JSON) throws(JSONError) {
        let name = try String(json: json)
        guard let step = AgentStep(wireName: name) else { throw JSONError("unknown agent step '\(name)'") }
        self = step
    }
}
