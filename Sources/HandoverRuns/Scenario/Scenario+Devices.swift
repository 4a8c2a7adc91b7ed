import HandoverCore
import HandoverSupport
import HandoverMachines
import HandoverImages

extension Scenario {
    /// The machine the scenario needs: an IOMMU with a device to assign for iommufd.
    public var topology: Topology {
        guard let setup = devices?.iommufd else { return .plain }
        return .iommu(AssignableDevice.allCases.first { $0.pciID == setup.pciDevice } ?? .edu)
    }

    /// The `iommufd:` and `kvm:` sections and the handles in sessions, checked against the kind:
    /// each device kind preserves its handles exactly once, and only device kinds have them.
    static func parseDevices(_ top: YAMLMapping, kind: Kind, objects: [ObjectSpec], sessions: [SessionSpec]) throws(InputError) -> DevicePlan? {
        let handles = sessions.flatMap(\.members).compactMap(\.handle)
        if let clash = objects.first(where: { Handle(rawValue: $0.name) != nil }) {
            throw top["objects"]!.error("object name '\(clash.name)' is reserved for a handle; choose another")
        }
        let guestMemfds = objects.filter { $0.backing == .guestMemfd }
        func requireHandles(_ wanted: [Handle]) throws(InputError) {
            for handle in wanted where !handles.contains(handle) {
                throw top["sessions"]!.error("a \(kind.rawValue) scenario preserves the \(handle.fileType); add {handle: \(handle.rawValue), token: N} to a session")
            }
            if let stray = handles.first(where: { !wanted.contains($0) }) {
                throw top["sessions"]!.error("handle '\(stray.rawValue)' belongs to another kind of scenario, not \(kind.rawValue)")
            }
        }
        switch kind {
        case .memfd, .selftest:
            if let section = top["iommufd"] ?? top["kvm"] ?? top["vm"] { throw section.error("only device scenarios (iommufd, guest-memfd, vm) have this section; kind is \(kind.rawValue)") }
            if let stray = handles.first { throw top["sessions"]!.error("handle '\(stray.rawValue)' needs kind iommufd or guest-memfd") }
            if let object = guestMemfds.first { throw top["objects"]!.error("object '\(object.name)' has backing guest-memfd, which needs kind guest-memfd") }
            return nil
        case .vm:
            if let section = top["iommufd"] ?? top["kvm"] { throw section.error("a vm scenario describes its VM under vm:, not under iommufd: or kvm:") }
            let setup = try parseGuest(try top.required("vm", "the guest's RAM and state objects and how long it runs"), objects: objects)
            let ram = objects.first { $0.name == setup.ram }!
            try requireHandles(ram.backing == .guestMemfd ? [.kvmVM] : [])
            if let other = guestMemfds.first(where: { $0.name != setup.ram }) {
                throw top["objects"]!.error("object '\(other.name)' has backing guest-memfd; in a vm scenario only the guest's RAM can")
            }
            return DevicePlan(kvm: KVMSetup(), vm: setup)
        case .iommufd:
            if let section = top["kvm"] { throw section.error("an iommufd scenario has no kvm section") }
            if let object = guestMemfds.first { throw top["objects"]!.error("object '\(object.name)' has backing guest-memfd, which needs kind guest-memfd") }
            try requireHandles([.iommufd, .vfioDevice])
            return DevicePlan(iommufd: try parseIommufd(try top.required("iommufd", "the device to assign and the memfds to map"), objects: objects))
        case .guestMemfd:
            if let section = top["iommufd"] { throw section.error("a guest-memfd scenario has no iommufd section") }
            guard !guestMemfds.isEmpty else { throw top["objects"]!.error("a guest-memfd scenario needs at least one object with backing: guest-memfd") }
            try requireHandles([.kvmVM])
            var setup = KVMSetup()
            if let section = top["kvm"] {
                let fields = try section.mapping(allowedKeys: ["vm-type"])
                setup.vmType = UInt64(try fields["vm-type"]?.int(in: 0...255) ?? 0)
            }
            return DevicePlan(kvm: setup)
        }
    }

    /// `vm: {ram: OBJECT, state: OBJECT, run: 300ms, report-every: 1024}`.
    private static func parseGuest(_ value: YAMLValue, objects: [ObjectSpec]) throws(InputError) -> GuestVMSetup {
        let fields = try value.mapping(allowedKeys: ["ram", "state", "run", "report-every"])
        func object(_ key: String, _ expected: String) throws(InputError) -> ObjectSpec {
            let nameValue = try fields.required(key, expected)
            let name = try nameValue.nonEmptyString()
            guard let object = objects.first(where: { $0.name == name }) else { throw nameValue.error("no object named '\(name)'") }
            return object
        }
        let ram = try object("ram", "the object holding the guest's RAM")
        let ramValue = fields["ram"]!
        guard ram.size >= GuestProgram.minimumRAM, ram.size <= GuestProgram.maximumRAM, ram.size % GuestProgram.pageSize == 0 else {
            throw ramValue.error("the guest's RAM '\(ram.name)' must be a multiple of 4096 bytes from \(GuestProgram.minimumRAM) to \(GuestProgram.maximumRAM), found \(ram.size)")
        }
        if !ram.seals.isEmpty || ram.position != 0 { throw ramValue.error("the guest's RAM '\(ram.name)' is mapped into the VM; it takes no seals and no position") }
        let state = try object("state", "a memfd of at least 4096 bytes for the saved vCPU state")
        let stateValue = fields["state"]!
        guard state.name != ram.name else { throw stateValue.error("the state and the RAM must be different objects") }
        guard state.backing == nil, state.size >= 4096, state.seals.isEmpty, state.fill == .zero else {
            throw stateValue.error("the state object '\(state.name)' must be a zero-filled, unsealed memfd of at least 4096 bytes")
        }
        var milliseconds = 300
        if let run = fields["run"] {
            let text = try run.string()
            let number = text.hasSuffix("ms") ? Int(text.dropLast(2)) : text.hasSuffix("s") ? Int(text.dropLast()).map { $0 * 1000 } : nil
            guard let number, (10...60_000).contains(number) else { throw run.error("expected a duration from 10ms to 60s such as 300ms or 2s, found '\(text)'") }
            milliseconds = number
        }
        let every = try fields["report-every"]?.int(in: 16...(1 << 20)) ?? 1024
        if let value = fields["report-every"], every & (every - 1) != 0 { throw value.error("expected a power of two, found \(every)") }
        return GuestVMSetup(ram: ram.name, state: state.name, runMilliseconds: milliseconds, reportEvery: UInt32(every))
    }

    private static func parseIommufd(_ value: YAMLValue, objects: [ObjectSpec]) throws(InputError) -> IommufdSetup {
        let fields = try value.mapping(allowedKeys: ["device", "hwpt-token", "mappings"])
        let device = try fields["device"]?.choice(AssignableDevice.self) ?? .edu
        let hwptToken = UInt32(try fields["hwpt-token"]?.int(in: 1...Int(UInt32.max)) ?? 1)
        var mappings: [IommufdSetup.Mapping] = []
        let list = try fields.required("mappings", "a list of {object, iova}")
        for item in try list.list() {
            let mapping = try item.mapping(allowedKeys: ["object", "iova"])
            let objectValue = try mapping.required("object", "a memfd object of this scenario")
            let name = try objectValue.nonEmptyString()
            guard let object = objects.first(where: { $0.name == name }) else { throw objectValue.error("no object named '\(name)'") }
            guard object.size > 0, object.size % 4096 == 0 else {
                throw objectValue.error("a mapped object's size must be a non-zero multiple of 4096 bytes, '\(name)' has \(object.size)")
            }
            let iovaValue = try mapping.required("iova", "a page-aligned I/O virtual address")
            let iova = try iovaValue.int(in: 0...(1 << 47))
            guard iova % 4096 == 0 else { throw iovaValue.error("expected a page-aligned IOVA (a multiple of 4096), found \(iova)") }
            if let overlap = mappings.first(where: { other in
                let otherSize = objects.first { $0.name == other.object }!.size
                return UInt64(iova) < other.iova + UInt64(otherSize) && other.iova < UInt64(iova + object.size)
            }) {
                throw iovaValue.error("the mapping of '\(name)' overlaps the mapping of '\(overlap.object)'")
            }
            if mappings.contains(where: { $0.object == name }) { throw objectValue.error("object '\(name)' is mapped twice") }
            mappings.append(.init(object: name, iova: UInt64(iova)))
        }
        guard !mappings.isEmpty else { throw list.error("expected at least one mapping") }
        return IommufdSetup(pciDevice: device.pciID, mappings: mappings, hwptToken: hwptToken)
    }
}

extension Scenario {
    /// The LUO file handlers beyond memfd's that the scenario's sessions need in both kernels,
    /// in the order the sessions name them.
    public var handlerNeeds: [HandlerNeed] {
        var needs: [HandlerNeed] = []
        for member in sessions.flatMap(\.members) {
            let need = member.handle.map(HandlerNeed.of) ?? objects.first { $0.name == member.object }.flatMap { $0.backing.flatMap(HandlerNeed.of) }
            if let need, !needs.contains(need) { needs.append(need) }
        }
        return needs
    }
}
