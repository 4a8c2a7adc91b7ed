import Foundation
@testable import HandoverCore
import Testing
@testable import HandoverSupport
@testable import HandoverMachines
@testable import HandoverRuns


private let kernel = URL(fileURLWithPath: "/cache/images/linux-7.3/bzImage")
private let initrd = URL(fileURLWithPath: "/runs/42/stage-1.cpio")
private let consolePipe = URL(fileURLWithPath: "/runs/42/console")
private let agentSocket = URL(fileURLWithPath: "/runs/42/agent.sock")
private let qmpSocket = URL(fileURLWithPath: "/runs/42/qmp.sock")

private func config(_ accelerator: Accelerator, cmdline: String = QemuCommand.kernelCommandLine(stage: 1)) -> VMConfig {
    VMConfig(kernel: kernel, initrd: initrd, cmdline: cmdline, accelerator: accelerator)
}

private func arguments(_ config: VMConfig) -> [String] {
    QemuCommand.arguments(config, consolePipe: consolePipe, agentSocket: agentSocket, qmpSocket: qmpSocket)
}

/// Every value given after `flag`, in order.
private func values(_ args: [String], _ flag: String) -> [String] {
    args.indices.filter { args[$0] == flag && $0 + 1 < args.count }.map { args[$0 + 1] }
}

/// The comma-separated options of a QEMU option value, as a dictionary (the first word keyed "").
private func options(_ value: String) -> [String: String] {
    var result: [String: String] = [:]
    for (index, part) in value.split(separator: ",").enumerated() {
        if let equal = part.firstIndex(of: "=") {
            result[String(part[..<equal])] = String(part[part.index(after: equal)...])
        } else {
            result[index == 0 ? "" : String(part)] = index == 0 ? String(part) : ""
        }
    }
    return result
}

@Suite struct QemuCommandTests {
    @Test(arguments: Accelerator.allCases)
    func directKernelBoot(_ accelerator: Accelerator) {
        let cmdline = "console=ttyS0 kho=on handover.stage=1 with spaces"
        let args = arguments(config(accelerator, cmdline: cmdline))
        #expect(values(args, "-kernel") == [kernel.path])
        #expect(values(args, "-initrd") == [initrd.path])
        #expect(values(args, "-append") == [cmdline])
        #expect(args.contains("-no-reboot"))
        #expect(args.contains("-nodefaults"))
        #expect(args.contains("-no-user-config"))
        #expect(values(args, "-display") == ["none"])
        #expect(values(args, "-m") == ["1024M"])
        #expect(values(args, "-smp") == ["2"])
        #expect(values(args, "-machine") == ["pc"])
    }

    @Test func tcg() {
        let args = arguments(config(.tcg))
        #expect(values(args, "-accel") == ["tcg,thread=multi"])
        #expect(values(args, "-cpu") == ["max"])
        #expect(!args.contains { $0.contains("kvm") })
    }

    @Test func kvm() {
        let args = arguments(config(.kvm))
        #expect(values(args, "-accel") == ["kvm"])
        #expect(values(args, "-cpu") == ["host"])
        #expect(!args.contains { $0.contains("tcg") })
    }

    @Test func memoryAndProcessorsFollowTheConfig() {
        var custom = config(.tcg)
        custom.memoryMiB = 3072
        custom.cpus = 4
        custom.topology = .iommu(.edu)
        let args = arguments(custom)
        #expect(values(args, "-m") == ["3072M"])
        #expect(values(args, "-smp") == ["4"])
        #expect(values(args, "-machine") == ["q35"])
    }

    @Test func agentPortAndSockets() throws {
        let args = arguments(config(.kvm))
        let chardevs = values(args, "-chardev").map(options)
        #expect(chardevs.count == 2)
        let console = try #require(chardevs.first { $0["id"] == "console" })
        // A FIFO pair (console.in, console.out): a megabyte of console before QEMU waits on it.
        #expect(console[""] == "pipe")
        #expect(console["path"] == consolePipe.path)
        let agent = try #require(chardevs.first { $0["id"] == "agent" })
        #expect(agent[""] == "socket")
        #expect(agent["path"] == agentSocket.path)
        // COM1 (ttyS0) is the console, COM2 (ttyS1) the agent's channel; no virtio device.
        #expect(values(args, "-serial") == ["chardev:console", "chardev:agent"])
        #expect(!values(args, "-device").contains { $0.hasPrefix("virtio") })

        #expect(values(args, "-qmp") == ["unix:\(qmpSocket.path),server=on,wait=off"])
        #expect(values(args, "-monitor") == ["none"])
    }

    @Test func everyFlagHasAValue() {
        // No flag at the end without its value, and no value swallowed as a flag.
        let args = arguments(config(.tcg))
        let flagsWithValues: Set = ["-name", "-display", "-monitor", "-machine", "-accel", "-cpu", "-smp", "-m", "-kernel",
                                    "-initrd", "-append", "-chardev", "-serial", "-device", "-qmp"]
        var index = 0
        while index < args.count {
            let word = args[index]
            #expect(word.hasPrefix("-"), "expected a flag at \(index), found \(word)")
            if flagsWithValues.contains(word) {
                #expect(index + 1 < args.count && !args[index + 1].hasPrefix("-"), "\(word) has no value")
                index += 2
            } else {
                index += 1
            }
        }
    }

    @Test func kernelCommandLine() {
        let line = QemuCommand.kernelCommandLine(stage: 2, extra: ["loglevel=8", "memmap=1G$4G"])
        let words = line.split(separator: " ").map(String.init)
        for word in ["console=ttyS0", "kho=on", "liveupdate=on", "handover.stage=2", "panic=-1"] {
            #expect(words.contains(word), "\(word) missing from \(line)")
        }
        #expect(Array(words.suffix(2)) == ["loglevel=8", "memmap=1G$4G"])
        #expect(QemuCommand.kernelCommandLine(stage: 1).split(separator: " ").contains("handover.stage=1"))
        #expect(!QemuCommand.kernelCommandLine(stage: 1).contains("handover.stage=2"))
        #expect(QemuCommand.kernelCommandLine(stage: 1).split(separator: " ").count == 5)
    }

    @Test func displayQuotesWhatTheShellWouldSplit() {
        let shown = QemuCommand.display(["-append", "console=ttyS0 kho=on", "-kernel", "/a/bzImage"])
        #expect(shown == "qemu-system-x86_64 -append 'console=ttyS0 kho=on' -kernel /a/bzImage")
        #expect(QemuCommand.display(["it's"]) == #"qemu-system-x86_64 'it'\''s'"#)
        #expect(QemuCommand.display(["a$b"]) == "qemu-system-x86_64 'a$b'")
        #expect(QemuCommand.display(["unix:/r/q.sock,server=on,wait=off"]) == "qemu-system-x86_64 unix:/r/q.sock,server=on,wait=off")
        // An empty argument must stay visible, or a rerun by hand shifts every later argument.
        #expect(QemuCommand.display(["-append", "", "-m", "1G"]) == "qemu-system-x86_64 -append '' -m 1G")
    }

    @Test func displayOfARealCommandSplitsBackIntoTheArguments() {
        let args = arguments(config(.tcg))
        let shown = QemuCommand.display(args)
        #expect(shown.hasPrefix("qemu-system-x86_64 -name handover "))
        // The kernel command line has spaces, so it is the one quoted word.
        #expect(shown.contains("-append '\(QemuCommand.kernelCommandLine(stage: 1))'"))
        #expect(shown.split(separator: "'").count == 3)
    }
}

extension QemuCommandTests {
    @Suite struct AcceleratorDecisionTests {
        @Test func noKVMDeviceMeansTCG() {
            let (accelerator, reason) = AcceleratorProbe.decide(kvmDevice: false, probeBooted: nil)
            #expect(accelerator == .tcg)
            #expect(reason.contains("no /dev/kvm"))
            // Without the device, a probe result is irrelevant.
            #expect(AcceleratorProbe.decide(kvmDevice: false, probeBooted: true).0 == .tcg)
        }

        @Test func probeThatBootedMeansKVM() {
            let (accelerator, reason) = AcceleratorProbe.decide(kvmDevice: true, probeBooted: true)
            #expect(accelerator == .kvm)
            #expect(reason.contains("booted"))
        }

        @Test func probeThatFailedMeansTCGWithTheDetail() {
            let (accelerator, reason) = AcceleratorProbe.decide(kvmDevice: true, probeBooted: false,
                                                                probeDetail: "timed out after 20 s waiting for hello")
            #expect(accelerator == .tcg)
            #expect(reason.contains("failed under KVM"))
            #expect(reason.contains("timed out after 20 s waiting for hello"))
            let bare = AcceleratorProbe.decide(kvmDevice: true, probeBooted: false).1
            #expect(!bare.hasSuffix(": "))
            #expect(!bare.hasSuffix(":"))
        }

        @Test func notProbedMeansTCG() {
            let (accelerator, reason) = AcceleratorProbe.decide(kvmDevice: true, probeBooted: nil)
            #expect(accelerator == .tcg)
            #expect(reason.contains("not probed"))
        }
    }

    @Suite struct InjectionParseTests {
        @Test func flipByte() throws {
            #expect(try Injection.parse("flip-byte:guest-ram-small:4096") == .flipByte(object: "guest-ram-small", offset: 4096))
            #expect(try Injection.parse("flip-byte:page-0:0") == .flipByte(object: "page-0", offset: 0))
        }

        @Test func crash() throws {
            #expect(try Injection.parse("crash:1") == .crash(stage: 1))
            #expect(try Injection.parse("crash:2") == .crash(stage: 2))
            #expect(try Injection.parse("crash:3") == .crash(stage: 3))
        }

        @Test func bootFaults() throws {
            #expect(try Injection.parse("stall:2") == .stall(stage: 2))
            #expect(try Injection.parse("no-init:2") == .noInit(stage: 2))
            #expect(try Injection.parse("garbage:1") == .garbage(stage: 1))
            #expect(Injection.stall(stage: 2).commandLine(forStage: 2) == ["handover.stall=1"])
            #expect(Injection.stall(stage: 2).commandLine(forStage: 1).isEmpty)
            #expect(Injection.noInit(stage: 3).commandLine(forStage: 3).first?.hasPrefix("rdinit=") == true)
            #expect(Injection.crash(stage: 2).commandLine(forStage: 2).isEmpty)
        }

        @Test(arguments: ["flip-byte:obj:-1", "flip-byte:obj:abc", "flip-byte:obj:", "flip-byte:obj:1.5"])
        func badOffsets(_ text: String) throws {
            let error = try #require(throws: HarnessError.self) { try Injection.parse(text) }
            #expect(error.message.contains("offset must be a byte number"))
            #expect(error.message.contains(text))
        }

        @Test(arguments: ["crash:0", "crash:10", "crash:-1", "crash:x", "crash:", "stall:0", "no-init:x"])
        func badStages(_ text: String) throws {
            let error = try #require(throws: HarnessError.self) { try Injection.parse(text) }
            #expect(error.message.contains("with a stage number"))
        }

        @Test(arguments: ["", "crash", "crash:1:2", "flip-byte", "flip-byte:obj", "flip-byte:obj:1:2", "explode:1",
                          "FLIP-BYTE:obj:1", " crash:1"])
        func badForms(_ text: String) throws {
            let error = try #require(throws: HarnessError.self) { try Injection.parse(text) }
            #expect(error.message.contains("expected") && error.message.contains("STAGE"))
        }
    }

    @Suite struct ConsoleAnalysisTests {
        static let normalBoot = [
            "[    0.000000] Linux version 7.3.0-handover (builder@host) #1 SMP PREEMPT_DYNAMIC",
            "[    0.000000] Command line: console=ttyS0 kho=on liveupdate=on panic=-1 SWIFT_ROOT=/ handover.stage=2",
            "[    0.512345] KHO: exec from: 7.2.0-handover (count 1)",
            "[    0.612345] luo: Retrieved live update data, liveupdate number: 1",
            "[    0.912345] Run /init as init process",
            "handover-agent 0.1.0: stage 2",
        ]

        @Test func printkTime() {
            #expect(ConsoleAnalysis.printkTime("[    1.234567] x") == 1.234567)
            #expect(ConsoleAnalysis.printkTime("[12345.000001] long uptime") == 12_345.000001)
            #expect(ConsoleAnalysis.printkTime("[    0.000000] Linux version") == 0)
            #expect(ConsoleAnalysis.printkTime("no time here") == nil)
            #expect(ConsoleAnalysis.printkTime("") == nil)
            #expect(ConsoleAnalysis.printkTime("[  OK  ] Started something") == nil)
            #expect(ConsoleAnalysis.printkTime("[    1.5 no close") == nil)
            #expect(ConsoleAnalysis.printkTime(" [    1.234567] indented") == nil)
            #expect(ConsoleAnalysis.printkTime("x [    1.234567] later") == nil)
        }

        @Test func refusalOfAnIncompatibleLUO() {
            let lines = Self.normalBoot + ["[    0.700001] luo: LUO state is incompatible with 'luo-v5'", "[    0.8] later"]
            #expect(ConsoleAnalysis.refusal(in: lines) == "luo: LUO state is incompatible with 'luo-v5'")
        }

        @Test func refusalOfAMissingHandler() {
            let lines = ["[    0.700001] luo: No registered handler for compatible 'memfd-v2'"]
            #expect(ConsoleAnalysis.refusal(in: lines) == "luo: No registered handler for compatible 'memfd-v2'")
        }

        @Test func firstRefusalWins() {
            let lines = ["[    0.1] luo: No registered handler for compatible 'memfd-v2'",
                         "[    0.2] luo: LUO state is incompatible with 'luo-v5'"]
            #expect(ConsoleAnalysis.refusal(in: lines) == "luo: No registered handler for compatible 'memfd-v2'")
        }

        @Test func refusalWithoutTimePrefixIsKept() {
            let line = "luo: LUO state is too small"
            #expect(ConsoleAnalysis.refusal(in: [line]) == line)
        }

        @Test func normalBootHasNoRefusalOrPanic() {
            #expect(ConsoleAnalysis.refusal(in: Self.normalBoot) == nil)
            #expect(ConsoleAnalysis.panic(in: Self.normalBoot) == nil)
            #expect(ConsoleAnalysis.refusal(in: []) == nil)
            #expect(ConsoleAnalysis.panic(in: []) == nil)
        }

        @Test func panicWithContext() throws {
            let before = (0..<12).map { "[    1.\(String(format: "%06d", $0))] line \($0)" }
            let panicLine = "[    2.000000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000004"
            let lines = before + [panicLine, "[    2.000001] after the panic"]
            let panic = try #require(ConsoleAnalysis.panic(in: lines))
            #expect(panic.line == "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000004")
            // Up to 8 lines before, then the panic line itself; times stripped.
            #expect(panic.context.count == 9)
            #expect(panic.context.first == "line 4")
            #expect(Array(panic.context.dropLast()) == (4..<12).map { "line \($0)" })
            #expect(panic.context.last == panic.line)
            #expect(!panic.context.contains("after the panic"))
        }

        @Test func panicNearTheStartHasShortContext() throws {
            let lines = ["[    0.1] a", "[    0.2] b", "[    0.3] Kernel panic - not syncing: VFS: Unable to mount root fs"]
            let panic = try #require(ConsoleAnalysis.panic(in: lines))
            #expect(panic.context == ["a", "b", "Kernel panic - not syncing: VFS: Unable to mount root fs"])
            let first = try #require(ConsoleAnalysis.panic(in: ["Kernel panic - not syncing: x"]))
            #expect(first.context == ["Kernel panic - not syncing: x"])
            #expect(first.line == "Kernel panic - not syncing: x")
        }
    }
}
