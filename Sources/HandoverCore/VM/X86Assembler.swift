/// Assembles the few 32-bit x86 instructions the guest program uses, with labels for short
/// jumps. Encodings from the Intel SDM, volume 2 (opcode tables, ModR/M with mod 11 for
/// register operands, mod 00 for [register] and [disp32]).
public struct X86Assembler {
    public enum Register: UInt8, Sendable, CaseIterable {
        case eax = 0, ecx, edx, ebx, esp, ebp, esi, edi
    }

    public struct Label: Hashable, Sendable {
        let name: String
        public init(_ name: String) { self.name = name }
    }

    public enum AssemblyError: Error, Equatable, CustomStringConvertible {
        case undefinedLabel(String)
        case jumpTooFar(String, Int)
        case unsupportedOperand(String)

        public var description: String {
            switch self {
            case .undefinedLabel(let name): "undefined label '\(name)'"
            case .jumpTooFar(let name, let distance): "short jump to '\(name)' spans \(distance) bytes (rel8 reaches -128...127)"
            case .unsupportedOperand(let what): "unsupported operand: \(what)"
            }
        }
    }

    public private(set) var bytes: [UInt8] = []
    private var labels: [Label: Int] = [:]
    /// Where a rel8 byte waits for its label: (offset of the byte, label).
    private var fixups: [(Int, Label)] = []

    public init() {}

    private static func modRM(register: Register, rm: Register) -> UInt8 { 0xC0 | register.rawValue << 3 | rm.rawValue }

    public mutating func bind(_ label: Label) { labels[label] = bytes.count }

    public mutating func inc(_ register: Register) { bytes.append(0x40 + register.rawValue) }
    /// cmp r/m32, r32 (39 /r): flags of `left - right`.
    public mutating func cmp(_ left: Register, _ right: Register) { bytes += [0x39, Self.modRM(register: right, rm: left)] }
    public mutating func xor(_ destination: Register, _ source: Register) { bytes += [0x31, Self.modRM(register: source, rm: destination)] }
    public mutating func mov(_ destination: Register, _ source: Register) { bytes += [0x89, Self.modRM(register: source, rm: destination)] }
    public mutating func add(_ destination: Register, _ source: Register) { bytes += [0x01, Self.modRM(register: source, rm: destination)] }
    public mutating func test(_ left: Register, _ right: Register) { bytes += [0x85, Self.modRM(register: right, rm: left)] }
    /// shl r/m32, imm8 (C1 /4 ib).
    public mutating func shl(_ register: Register, _ count: UInt8) { bytes += [0xC1, 0xC0 | 4 << 3 | register.rawValue, count] }
    /// mov [address], r32 with a register holding the address (89 /r, mod 00). ESP and EBP
    /// need a SIB byte or a displacement in this form, so they are refused.
    public mutating func store(_ source: Register, at address: Register) throws(AssemblyError) {
        guard address != .esp, address != .ebp else { throw .unsupportedOperand("[\(address)] as an address register") }
        bytes += [0x89, source.rawValue << 3 | address.rawValue]
    }
    /// mov [disp32], r32 (89 /r, mod 00, r/m 101).
    public mutating func store(_ source: Register, atAbsolute address: UInt32) {
        bytes += [0x89, source.rawValue << 3 | 0b101] + Self.littleEndian(address)
    }
    /// out dx, eax (EF).
    public mutating func outDXEAX() { bytes.append(0xEF) }
    public mutating func jmp(_ label: Label) { shortJump(0xEB, label) }
    public mutating func jnz(_ label: Label) { shortJump(0x75, label) }
    public mutating func jb(_ label: Label) { shortJump(0x72, label) }

    private mutating func shortJump(_ opcode: UInt8, _ label: Label) {
        bytes += [opcode, 0]
        fixups.append((bytes.count - 1, label))
    }

    /// The machine code with every jump resolved.
    public func assembled() throws(AssemblyError) -> [UInt8] {
        var code = bytes
        for (position, label) in fixups {
            guard let target = labels[label] else { throw .undefinedLabel(label.name) }
            let distance = target - (position + 1)
            guard (-128...127).contains(distance) else { throw .jumpTooFar(label.name, distance) }
            code[position] = UInt8(bitPattern: Int8(distance))
        }
        return code
    }

    public static func littleEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
}
