/// The program the agent's VM runs across the handover, and what its RAM must hold.
///
/// It runs in 32-bit protected mode without paging (flat segments, so all of a RAM of up to a
/// few GiB is addressable with no page tables to preserve). Each iteration `i` increments the
/// progress counter (EBX), advances a page cursor (ECX = i mod pages), writes `i` into the first
/// four bytes of that page of the sweep area and into the counter word, so memory keeps being
/// dirtied up to the pause; every `reportEvery` iterations it writes the counter to an I/O port,
/// which exits to the agent. Everything in RAM is therefore a function of the counter alone:
/// the initial fill, the code, the counter word and the newest stamp of each page.
public struct GuestProgram: Sendable, Equatable {
    public static let codeAddress = 0x1000
    public static let counterAddress = 0x2000
    public static let sweepBase = 0x10000
    public static let pageSize = 4096
    public static let port: UInt16 = 0x4E0
    /// The smallest RAM: code and counter pages, then at least 16 pages to sweep.
    public static let minimumRAM = sweepBase + 16 * pageSize
    /// Addresses must fit the 32-bit registers of the program.
    public static let maximumRAM = 3 << 30

    public let ramBytes: Int
    /// A power of two: the program reports when `counter & (reportEvery - 1) == 0`.
    public let reportEvery: UInt32
    public let code: [UInt8]

    public var pages: Int { (ramBytes - Self.sweepBase) / Self.pageSize }

    public init(ramBytes: Int, reportEvery: UInt32 = 1024) {
        precondition(ramBytes >= Self.minimumRAM && ramBytes <= Self.maximumRAM && ramBytes % Self.pageSize == 0)
        precondition(reportEvery > 0 && reportEvery & (reportEvery - 1) == 0)
        self.ramBytes = ramBytes
        self.reportEvery = reportEvery
        // Assembling fixed code with short jumps that are known to reach cannot fail.
        code = try! Self.assemble()
    }

    /// Registers at the first entry: ESI the sweep base, EDI the page count, EBP the report
    /// mask, EDX the port; EBX (counter) and ECX (cursor) start at zero.
    public var startRegisters: [VCPUSnapshot.Register: UInt64] {
        [.rip: UInt64(Self.codeAddress), .rsi: UInt64(Self.sweepBase), .rdi: UInt64(pages),
         .rbp: UInt64(reportEvery - 1), .rdx: UInt64(Self.port), .rbx: 0, .rcx: 0, .rflags: 0x2]
    }

    static func assemble() throws(X86Assembler.AssemblyError) -> [UInt8] {
        var asm = X86Assembler()
        let loop = X86Assembler.Label("loop"), noWrap = X86Assembler.Label("no-wrap")
        asm.bind(loop)
        asm.inc(.ebx)
        asm.inc(.ecx)
        asm.cmp(.ecx, .edi)
        asm.jb(noWrap)
        asm.xor(.ecx, .ecx)
        asm.bind(noWrap)
        asm.mov(.eax, .ecx)
        asm.shl(.eax, 12)
        asm.add(.eax, .esi)
        try asm.store(.ebx, at: .eax)
        asm.store(.ebx, atAbsolute: UInt32(counterAddress))
        asm.test(.ebx, .ebp)
        asm.jnz(loop)
        asm.mov(.eax, .ebx)
        asm.outDXEAX()
        asm.jmp(loop)
        return try asm.assembled()
    }

    /// The page the iteration writes its stamp into.
    public func page(ofIteration iteration: UInt64) -> Int { Int(iteration % UInt64(pages)) }

    /// The newest iteration, up to `counter`, that wrote into `page`; nil if none has yet.
    public func lastIteration(writing page: Int, atCounter counter: UInt64) -> UInt64? {
        let count = UInt64(pages)
        let back = (counter % count + count - UInt64(page)) % count
        guard counter >= back else { return nil }
        let iteration = counter - back
        return iteration >= 1 ? iteration : nil
    }

    /// The cursor the program holds after `counter` iterations.
    public func cursor(atCounter counter: UInt64) -> UInt64 { counter % UInt64(pages) }

    /// Writes over `buffer` (RAM bytes from guest-physical `start`, holding the initial fill)
    /// what the program has put there by the time its counter is `counter`.
    public func overlay(_ buffer: UnsafeMutableRawBufferPointer, start: Int, counter: UInt64) {
        let end = start + buffer.count
        func put(_ bytes: [UInt8], at address: Int) {
            for (index, byte) in bytes.enumerated() where address + index >= start && address + index < end {
                buffer[address + index - start] = byte
            }
        }
        put(code, at: Self.codeAddress)
        put(X86Assembler.littleEndian(UInt32(truncatingIfNeeded: counter)), at: Self.counterAddress)
        // The first page whose four-byte stamp reaches into the range.
        let firstPage = max(0, (start - Self.sweepBase - 3) / Self.pageSize)
        var page = firstPage
        while page < pages, Self.sweepBase + page * Self.pageSize < end {
            if let iteration = lastIteration(writing: page, atCounter: counter) {
                put(X86Assembler.littleEndian(UInt32(truncatingIfNeeded: iteration)), at: Self.sweepBase + page * Self.pageSize)
            }
            page += 1
        }
    }
}
