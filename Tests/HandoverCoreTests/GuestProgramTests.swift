import Foundation
import Testing

@testable import HandoverCore

/// The guest program's encoding (read back by binutils' disassembler) and the model of what its
/// RAM holds (checked against a step-by-step simulation of its loop).
@Suite("Guest program")
struct GuestProgramTests {
    /// objdump's reading of the code, one "mnemonic operands" per instruction.
    static func disassemble(_ code: [UInt8]) throws -> [String] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("guest-\(UUID().uuidString).bin")
        try Data(code).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/objdump")
        process.arguments = ["-D", "-b", "binary", "-m", "i386", "-M", "intel", "--adjust-vma=0x1000", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        // "    1000:\t43                   \tinc    ebx"
        return output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 3, fields[0].hasSuffix(":") else { return nil }
            return fields[2].split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        }
    }

    @Test func theCodeIsTheLoopItDescribes() throws {
        let program = GuestProgram(ramBytes: 32 << 20)
        let instructions = try Self.disassemble(program.code)
        #expect(instructions == [
            "inc ebx", "inc ecx", "cmp ecx,edi", "jb 0x1008", "xor ecx,ecx", "mov eax,ecx", "shl eax,0xc", "add eax,esi",
            "mov DWORD PTR [eax],ebx", "mov DWORD PTR ds:0x2000,ebx", "test ebx,ebp", "jne 0x1000", "mov eax,ebx",
            "out dx,eax", "jmp 0x1000",
        ])
    }

    @Test func shortJumpsAreCheckedWhenAssembled() {
        var asm = X86Assembler()
        asm.jmp(.init("nowhere"))
        #expect(throws: X86Assembler.AssemblyError.undefinedLabel("nowhere")) { try asm.assembled() }
        var far = X86Assembler()
        let start = X86Assembler.Label("start")
        far.bind(start)
        for _ in 0..<130 { far.inc(.eax) }
        far.jmp(start)
        #expect(throws: X86Assembler.AssemblyError.jumpTooFar("start", -132)) { try far.assembled() }
        var esp = X86Assembler()
        #expect(throws: X86Assembler.AssemblyError.self) { try esp.store(.eax, at: .esp) }
    }

    /// The loop's effect on RAM, one iteration at a time, as the code above does it.
    static func simulate(_ program: GuestProgram, fill: [UInt8], iterations: UInt64) -> [UInt8] {
        var ram = fill
        func put(_ value: UInt32, at address: Int) { for byte in 0..<4 { ram[address + byte] = UInt8(truncatingIfNeeded: value >> (byte * 8)) } }
        for (index, byte) in program.code.enumerated() { ram[GuestProgram.codeAddress + index] = byte }
        put(0, at: GuestProgram.counterAddress)
        var counter: UInt32 = 0, cursor = 0
        for _ in 0..<iterations {
            counter &+= 1
            cursor += 1
            if cursor >= program.pages { cursor = 0 }
            put(counter, at: GuestProgram.sweepBase + cursor * GuestProgram.pageSize)
            put(counter, at: GuestProgram.counterAddress)
        }
        return ram
    }

    @Test(arguments: [0, 1, 15, 16, 17, 100, 1023, 1024, 5000])
    func theModelMatchesTheLoopStepByStep(iterations: UInt64) {
        let program = GuestProgram(ramBytes: GuestProgram.minimumRAM + 4 * GuestProgram.pageSize)  // 20 pages
        var generator = SystemRandomNumberGenerator()
        let fill = (0..<program.ramBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let simulated = Self.simulate(program, fill: fill, iterations: iterations)
        // Whole RAM at once, and in odd-sized pieces that split code, counter and stamps.
        for piece in [program.ramBytes, 4097, 1000, 3] {
            var modelled = fill
            var start = 0
            while start < modelled.count {
                let end = min(start + piece, modelled.count)
                modelled[start..<end].withUnsafeMutableBytes { program.overlay($0, start: start, counter: iterations) }
                start = end
            }
            let first = zip(modelled, simulated).enumerated().first { $0.element.0 != $0.element.1 }
            #expect(first == nil, "piece \(piece): first difference at \(first.map { String($0.offset, radix: 16) } ?? "")")
        }
    }

    @Test func cursorAndLastWriter() {
        let program = GuestProgram(ramBytes: GuestProgram.minimumRAM)  // 16 pages
        #expect(program.pages == 16)
        #expect(program.cursor(atCounter: 33) == 1)
        #expect(program.lastIteration(writing: 1, atCounter: 33) == 33)
        #expect(program.lastIteration(writing: 2, atCounter: 33) == 18)
        #expect(program.lastIteration(writing: 0, atCounter: 33) == 32)
        #expect(program.lastIteration(writing: 0, atCounter: 15) == nil)
        #expect(program.lastIteration(writing: 5, atCounter: 4) == nil)
        #expect(program.startRegisters[.rdi] == 16)
        #expect(program.startRegisters[.rip] == 0x1000)
    }
}

@Suite("Saved vCPU state")
struct VCPUSnapshotTests {
    static let sample: VCPUSnapshot = {
        var snapshot = VCPUSnapshot(registers: [UInt8](repeating: 0, count: VCPUSnapshot.registersSize),
                                    specialRegisters: (0..<312).map { UInt8($0 & 0xff) }, counter: 1 << 20, exits: 1024)
        snapshot[.rip] = 0x1022
        snapshot[.rbx] = 1 << 20
        snapshot[.rflags] = 0x2
        return snapshot
    }()

    @Test func roundTripsWithPadding() throws {
        let bytes = Self.sample.encoded() + [UInt8](repeating: 0, count: 3000)
        let decoded = try VCPUSnapshot.decode(bytes, registersSize: 144, specialRegistersSize: 312)
        #expect(decoded == Self.sample)
        #expect(decoded[.rip] == 0x1022)
        #expect(decoded[.rbx] == 1 << 20)
        #expect(decoded[.rax] == 0)
    }

    @Test func registersSitWhereStructKvmRegsHasThem() {
        var snapshot = Self.sample
        snapshot[.rcx] = 0x0102_0304_0506_0708
        #expect(Array(snapshot.registers[16..<24]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(VCPUSnapshot.Register.rip.rawValue * 8 == 128)
    }

    @Test func aChangedByteIsCaught() throws {
        var bytes = Self.sample.encoded()
        bytes[40] ^= 0x01
        #expect(throws: VCPUSnapshot.DecodeError.self) { try VCPUSnapshot.decode(bytes, registersSize: 144, specialRegistersSize: 312) }
        do {
            _ = try VCPUSnapshot.decode(bytes, registersSize: 144, specialRegistersSize: 312)
        } catch {
            #expect(error.description.contains("changed"))
        }
    }

    @Test func emptyTruncatedAndForeignStatesAreNamed() {
        let bytes = Self.sample.encoded()
        #expect(throws: VCPUSnapshot.DecodeError.notASnapshot) { try VCPUSnapshot.decode([UInt8](repeating: 0, count: 4096), registersSize: 144, specialRegistersSize: 312) }
        #expect(throws: VCPUSnapshot.DecodeError.truncated(needed: bytes.count, found: bytes.count - 9)) {
            try VCPUSnapshot.decode(Array(bytes.dropLast(9)), registersSize: 144, specialRegistersSize: 312)
        }
        #expect(throws: VCPUSnapshot.DecodeError.wrongSize(what: "struct kvm_sregs", expected: 320, found: 312)) {
            try VCPUSnapshot.decode(bytes, registersSize: 144, specialRegistersSize: 320)
        }
    }
}
