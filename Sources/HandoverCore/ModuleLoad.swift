/// One kernel module the agent loaded (finit_module) before anything else, in the order the
/// runner listed them in the initramfs (dependencies first). Plain Swift: the agent sends it.
public struct ModuleLoad: Sendable, Equatable {
    /// The module's name (its file name without `.ko`).
    public var name: String
    /// nil when it loaded (or was already loaded: EEXIST).
    public var errno: Int32?

    public init(name: String, errno: Int32? = nil) {
        self.name = name
        self.errno = errno
    }

    /// Where the runner lists a stage's modules, one initramfs path a line, in load order.
    public static let orderFile = "handover/modules.order"

    /// errnos that say the hardware or CPU feature the module drives is absent (kvm_amd
    /// without svm, a PCI driver without its device): the kernel cannot, so the run is
    /// unsupported, as with a built-in driver that finds nothing. Any other errno is the
    /// image's or the harness's fault (a module of another kernel, an unknown symbol).
    public static let absentHardware: Set<Int32> = [19 /* ENODEV */, 6 /* ENXIO */, 95 /* EOPNOTSUPP */]

    public var loaded: Bool { errno == nil }
}

extension ModuleLoad: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("name", name)
            $0.add("errno", errno.map(Int.init))
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        name = try o.required("name")
        let number: Int? = try o.optional("errno")
        errno = number.map { Int32(truncatingIfNeeded: $0) }
    }
}
