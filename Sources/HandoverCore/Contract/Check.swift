/// A promise of the live update uAPI checked in the new kernel (`CheckResult.check`): by the
/// agent after verification, or by the runner from the agent's hello. The runner decides what a
/// failed check means by an exhaustive switch, so a new check does not compile until it does.
public enum Check: Sendable, Equatable, Hashable {
    // The runner's, from the new kernel's hello.
    /// The kernel that answered is the one the hop kexec'd into.
    case newKernelRelease
    /// LUO's liveupdate number went up by one across the kexec.
    case liveUpdateNumberIncremented

    // Retrieval and FINISH of memfd sessions (Agent/Swift/Checks.swift).
    case retrieveUnknownToken
    case retrieveTokenTwiceSameFile
    case retrieveUnknownSession
    case finishNonzeroReserved
    /// LIVEUPDATE_SESSION_FINISH of the named session.
    case finishSession(String)
    case retrieveAfterFinish

    // The iommufd series (Agent/Swift/Devices/DeviceChecks.swift).
    case finishRefusedBeforeHWPTReclaim
    case retrieveIommufdAndCdev
    case vfioCdevBindsRestoredIommufd
    case hwptRestore
    /// The named memfd, mapped for DMA, refused a size change.
    case mappedMemfdSizeFrozen(String)
    case finishAfterReclaim

    // The guest_memfd series. Its RFC (v2, v3) calls FINISH with the VM file never retrieved a
    // valid case (FINISH drops it; the guest_memfd lives on): no check asks FINISH to refuse.
    case retrieveKVMVM
    case restoredVMOffersGuestMemfd
    case finishAfterVMRetrieved

    static let plain: [Check] = [
        .newKernelRelease, .liveUpdateNumberIncremented, .retrieveUnknownToken, .retrieveTokenTwiceSameFile,
        .retrieveUnknownSession, .finishNonzeroReserved, .retrieveAfterFinish, .finishRefusedBeforeHWPTReclaim,
        .retrieveIommufdAndCdev, .vfioCdevBindsRestoredIommufd, .hwptRestore, .finishAfterReclaim,
        .retrieveKVMVM, .restoredVMOffersGuestMemfd, .finishAfterVMRetrieved,
    ]

    public var wireName: String {
        switch self {
        case .newKernelRelease: "new-kernel-release"
        case .liveUpdateNumberIncremented: "liveupdate-number-incremented"
        case .retrieveUnknownToken: "retrieve-unknown-token"
        case .retrieveTokenTwiceSameFile: "retrieve-token-twice-same-file"
        case .retrieveUnknownSession: "retrieve-unknown-session"
        case .finishNonzeroReserved: "finish-nonzero-reserved"
        case .finishSession(let session): "finish-\(session)"
        case .retrieveAfterFinish: "retrieve-after-finish"
        case .finishRefusedBeforeHWPTReclaim: "finish-refused-before-hwpt-reclaim"
        case .retrieveIommufdAndCdev: "retrieve-iommufd-and-cdev"
        case .vfioCdevBindsRestoredIommufd: "vfio-cdev-binds-restored-iommufd"
        case .hwptRestore: "hwpt-restore"
        case .mappedMemfdSizeFrozen(let object): "mapped-memfd-size-frozen-\(object)"
        case .finishAfterReclaim: "finish-after-reclaim"
        case .retrieveKVMVM: "retrieve-kvm-vm"
        case .restoredVMOffersGuestMemfd: "restored-vm-offers-guest-memfd"
        case .finishAfterVMRetrieved: "finish-after-vm-retrieved"
        }
    }

    public init?(wireName: String) {
        if let plain = Self.plain.first(where: { $0.wireName == wireName }) {
            self = plain
        } else if let object = wireName.text(after: "mapped-memfd-size-frozen-"), !object.isEmpty {
            self = .mappedMemfdSizeFrozen(object)
        } else if let session = wireName.text(after: "finish-"), !session.isEmpty {
            self = .finishSession(session)
        } else {
            return nil
        }
    }
}

extension Check: JSONConvertible {
    public var json: JSON { .string(wireName) }

    public init(json: JSON) throws(JSONError) {
        let name = try String(json: json)
        guard let check = Check(wireName: name) else { throw JSONError("unknown check '\(name)'") }
        self = check
    }
}
