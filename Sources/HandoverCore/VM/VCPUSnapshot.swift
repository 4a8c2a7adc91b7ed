/// The vCPU state the agent saves at the pause and restores in the next kernel, as it is kept
/// in the state memfd: the kernel's struct kvm_regs and struct kvm_sregs as KVM_GET_REGS and
/// KVM_GET_SREGS return them, the guest's progress at the pause, and a checksum, so a state
/// that changed on the way is told apart from a guest that did not continue.
///
/// Layout (little endian): "HOVCPU01", u32 regs size, u32 sregs size, u64 counter, u64 exits,
/// the regs, the sregs, u64 FNV-1a of everything before it. Zero padding may follow.
public struct VCPUSnapshot: Sendable, Equatable {
    public static let magic = Array("HOVCPU01".utf8)
    static let headerSize = 8 + 4 + 4 + 8 + 8

    /// struct kvm_regs on x86_64: eighteen u64 in this order.
    public enum Register: Int, Sendable, CaseIterable {
        case rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags

        public var name: String {
            switch self {
            case .rax: "rax"
            case .rbx: "rbx"
            case .rcx: "rcx"
            case .rdx: "rdx"
            case .rsi: "rsi"
            case .rdi: "rdi"
            case .rsp: "rsp"
            case .rbp: "rbp"
            case .r8: "r8"
            case .r9: "r9"
            case .r10: "r10"
            case .r11: "r11"
            case .r12: "r12"
            case .r13: "r13"
            case .r14: "r14"
            case .r15: "r15"
            case .rip: "rip"
            case .rflags: "rflags"
            }
        }
    }
    public static let registersSize = Register.allCases.count * 8

    public var registers: [UInt8]
    public var specialRegisters: [UInt8]
    /// The counter the guest reported at its last exit before the pause.
    public var counter: UInt64
    /// I/O exits the guest made before the pause, over all stages.
    public var exits: UInt64

    public init(registers: [UInt8], specialRegisters: [UInt8], counter: UInt64, exits: UInt64) {
        self.registers = registers
        self.specialRegisters = specialRegisters
        self.counter = counter
        self.exits = exits
    }

    public subscript(register: Register) -> UInt64 {
        get { Self.read(registers, at: register.rawValue * 8) }
        set { for byte in 0..<8 { registers[register.rawValue * 8 + byte] = UInt8(truncatingIfNeeded: newValue >> (byte * 8)) } }
    }

    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes += Self.bytes(UInt64(registers.count), width: 4) + Self.bytes(UInt64(specialRegisters.count), width: 4)
        bytes += Self.bytes(counter, width: 8) + Self.bytes(exits, width: 8)
        bytes += registers + specialRegisters
        bytes += Self.bytes(Self.checksum(bytes), width: 8)
        return bytes
    }

    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case notASnapshot
        case truncated(needed: Int, found: Int)
        case wrongSize(what: String, expected: Int, found: Int)
        case checksum(expected: UInt64, found: UInt64)

        public var description: String {
            switch self {
            case .notASnapshot: "no saved vCPU state (magic HOVCPU01 missing)"
            case .truncated(let needed, let found): "the saved vCPU state is cut short: \(needed) bytes needed, \(found) present"
            case .wrongSize(let what, let expected, let found): "the saved \(what) is \(found) bytes, this kernel's KVM uses \(expected)"
            case .checksum(let expected, let found):
                "the saved vCPU state changed: checksum \(String(found, radix: 16)), written as \(String(expected, radix: 16))"
            }
        }
    }

    /// Reads a snapshot from the state memfd's bytes, checking sizes against this kernel's.
    public static func decode(_ bytes: [UInt8], registersSize: Int, specialRegistersSize: Int) throws(DecodeError) -> VCPUSnapshot {
        guard bytes.count >= headerSize, Array(bytes[0..<8]) == magic else { throw .notASnapshot }
        let regs = Int(read(bytes, at: 8, width: 4)), sregs = Int(read(bytes, at: 12, width: 4))
        guard regs == registersSize else { throw .wrongSize(what: "struct kvm_regs", expected: registersSize, found: regs) }
        guard sregs == specialRegistersSize else { throw .wrongSize(what: "struct kvm_sregs", expected: specialRegistersSize, found: sregs) }
        let end = headerSize + regs + sregs
        guard bytes.count >= end + 8 else { throw .truncated(needed: end + 8, found: bytes.count) }
        let written = read(bytes, at: end), computed = checksum(Array(bytes[0..<end]))
        guard written == computed else { throw .checksum(expected: written, found: computed) }
        return VCPUSnapshot(registers: Array(bytes[headerSize..<headerSize + regs]),
                            specialRegisters: Array(bytes[headerSize + regs..<end]),
                            counter: read(bytes, at: 16), exits: read(bytes, at: 24))
    }

    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    static func bytes(_ value: UInt64, width: Int) -> [UInt8] { (0..<width).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

    static func read(_ bytes: [UInt8], at offset: Int, width: Int = 8) -> UInt64 {
        (0..<width).reduce(0) { $0 | UInt64(bytes[offset + $1]) << ($1 * 8) }
    }
}
