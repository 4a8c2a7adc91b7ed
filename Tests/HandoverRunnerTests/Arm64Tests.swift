import Foundation
@testable import HandoverCore
import Testing
@testable import HandoverSupport
@testable import HandoverImages
@testable import HandoverMachines
@testable import HandoverResults
@testable import HandoverRuns
@testable import HandoverMatrix


/// Issue 20: arm64 images, their cache keys, the virt machine's command line, refusals of
/// mixed architectures and of x86-only kinds, and the agent's aarch64 syscall numbers and
/// ioctl encodings checked by the cross compiler.

private let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private func keyInputs(arch: Architecture = .default) -> ImageKeyInputs {
    ImageKeyInputs(
        source: "debian:linux-source-7.3=7.3.4-1~bpo13+1",
        baseConfig: "tinyconfig",
        fragments: ["CONFIG_TTY=y\n", "CONFIG_LIVEUPDATE=y\n"],
        compiler: "gcc (Debian 14.2.0-19) 14.2.0",
        cmdline: ["kho=on"],
        arch: arch)
}

private let liveUpdateConfig = """
    CONFIG_KEXEC_FILE=y
    CONFIG_RELOCATABLE=y
    CONFIG_KEXEC_HANDOVER=y
    CONFIG_LIVEUPDATE=y
    CONFIG_LIVEUPDATE_MEMFD=y
    """

private func image(_ recipe: String, arch: Architecture?) -> KernelImage {
    var image = KernelImage(
        recipe: recipe, recipeFile: "Images/\(recipe).yaml", key: String(repeating: "0", count: 24), kernelRelease: "7.3.4",
        source: KernelImage.SourceInfo(kind: "debian", package: "linux-source-7.3", packageVersion: "7.3.4-1", suite: "sid"),
        baseConfig: "tinyconfig", fragments: ["luo"], compiler: "gcc 14",
        capabilities: Capabilities(config: KernelConfig(text: liveUpdateConfig)),
        abi: ABIStrings(byMacro: ["KHO_FDT_COMPATIBLE": "kho-v4", "LUO_ABI_COMPATIBLE": "luo-v5", "MEMFD_LUO_FH_COMPATIBLE": "memfd-v2"]),
        kexecLoadable: true, cmdline: [], builtAt: Date(timeIntervalSince1970: 1_800_000_000))
    image.architecture = arch?.rawValue
    return image
}

/// One of the repository's scenarios.
private func scenario(_ name: String) throws -> Scenario {
    try Scenario.load(from: repository.appendingPathComponent("Scenarios/\(name).yaml"))
}

@Suite("arm64: cache keys")
struct Arm64CacheKeyTests {
    /// The x86_64 key is what it was before architectures existed: the same JSON (no "arch"
    /// member) and so the same digest as the pre-issue-20 code computed (value computed
    /// independently from that JSON).
    @Test func x86KeyIsUnchanged() throws {
        let inputs = keyInputs()
        #expect(inputs.arch == nil)
        let json = String(decoding: try { let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]; return try e.encode(inputs) }(), as: UTF8.self)
        #expect(!json.contains("arch"))
        #expect(inputs.key == "0f802e883bd9173018859f59")
    }

    @Test func arm64EntersTheKey() {
        let arm = keyInputs(arch: .arm64)
        #expect(arm.arch == "arm64")
        #expect(arm.key != keyInputs().key)
        #expect(arm.key == "8591919af2dc27e15e3894bd")
    }

    @Test func x86RecordDecodesWithoutArch() throws {
        let json = #"{"baseConfig":"tinyconfig","cmdline":["kho=on"],"compiler":"gcc (Debian 14.2.0-19) 14.2.0","fragments":["CONFIG_TTY=y\n","CONFIG_LIVEUPDATE=y\n"],"schema":1,"source":"debian:linux-source-7.3=7.3.4-1~bpo13+1"}"#
        let decoded = try JSONDecoder().decode(ImageKeyInputs.self, from: Data(json.utf8))
        #expect(decoded == keyInputs())
    }

    @Test func imageWithoutRecordedArchitectureIsX86() {
        var old = image("old", arch: nil)
        old.folder = URL(fileURLWithPath: "/cache/images/j")
        #expect(old.arch == .x86_64)
        #expect(old.bzImage.lastPathComponent == "bzImage")
        var arm = image("new", arch: .arm64)
        arm.folder = URL(fileURLWithPath: "/cache/images/k")
        #expect(arm.bzImage.lastPathComponent == "Image")
        #expect(KernelImage.digestedFiles(.arm64) == ["Image", "config"])
        #expect(KernelImage.digestedFiles(.x86_64) == KernelImage.digestedFiles)
    }
}

@Suite("arm64: recipes")
struct Arm64RecipeTests {
    @Test(arguments: ["linux-7.2-arm64", "linux-7.3-arm64"])
    func shippedRecipesAreArm64(_ name: String) throws {
        let recipe = try Recipe.load(from: repository.appendingPathComponent("Images/\(name).yaml"))
        #expect(recipe.arch == .arm64)
        #expect(recipe.fragments.map(\.lastPathComponent) == ["arm64-guest.config", "luo.config"])
        let x86 = try Recipe.load(from: repository.appendingPathComponent("Images/\(name.replacingOccurrences(of: "-arm64", with: "")).yaml"))
        #expect(x86.arch == .x86_64)
        #expect(x86.source == recipe.source)
    }

    @Test func unknownArchNamesFileKeyAndExpectedValues() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("handover-arm64-recipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("bad.yaml")
        try "arch: riscv64\nsource:\n  debian:\n    package: linux-source-7.3\n    suite: sid\nconfig:\n  base: tinyconfig\n".write(to: file, atomically: true, encoding: .utf8)
        do {
            _ = try Recipe.load(from: file)
            Issue.record("a recipe with arch riscv64 loaded")
        } catch {
            #expect(error.file == file.path)
            #expect(error.keyPath == "arch")
            #expect(error.description.contains("x86_64 or arm64"))
            #expect(error.description.contains("riscv64"))
        }
    }

    @Test func archNames() {
        #expect(Architecture(name: "aarch64") == .arm64)
        #expect(Architecture(name: "arm64") == .arm64)
        #expect(Architecture(name: "x86_64") == .x86_64)
        #expect(Architecture(name: "mips") == nil)
        #expect(Architecture.arm64.crossCompile == "aarch64-linux-gnu-")
        #expect(Architecture.arm64.kernelBuildPath == "arch/arm64/boot/Image")
        #expect(Architecture.x86_64.crossCompile == nil)
    }

    @Test func arm64ImageHeader() throws {
        var bytes = [UInt8](repeating: 0, count: 64)
        bytes[56...59] = [0x41, 0x52, 0x4d, 0x64]
        bytes[16] = 0x00; bytes[17] = 0x10  // image_size 0x1000
        bytes[24] = 0x0a  // flags: LE, 4K pages
        let header = try Arm64ImageHeader(data: Data(bytes))
        #expect(header.imageSize == 0x1000)
        #expect(header.littleEndian)
        bytes[24] = 0x0b
        #expect(try !Arm64ImageHeader(data: Data(bytes)).littleEndian)
        bytes[59] = 0
        #expect(throws: HarnessError.self) { try Arm64ImageHeader(data: Data(bytes)) }
    }
}

@Suite("arm64: QEMU command line")
struct Arm64QemuCommandTests {
    func arguments(_ accelerator: Accelerator = .tcg) -> [String] {
        var config = VMConfig(kernel: URL(fileURLWithPath: "/c/Image"), initrd: URL(fileURLWithPath: "/r/i.cpio"),
                              cmdline: QemuCommand.kernelCommandLine(stage: 1, arch: .arm64), accelerator: accelerator)
        config.arch = .arm64
        return QemuCommand.arguments(config, consolePipe: URL(fileURLWithPath: "/r/console"),
                                     agentSocket: URL(fileURLWithPath: "/r/agent.sock"), qmpSocket: URL(fileURLWithPath: "/r/qmp.sock"))
    }

    func values(_ args: [String], _ flag: String) -> [String] {
        args.indices.filter { args[$0] == flag && $0 + 1 < args.count }.map { args[$0 + 1] }
    }

    @Test func virtMachineUnderTCG() {
        let args = arguments()
        #expect(values(args, "-machine") == ["virt"])
        #expect(values(args, "-cpu") == ["max,pauth-impdef=on"])
        #expect(values(args, "-accel") == ["tcg,thread=multi"])
        #expect(values(args, "-kernel") == ["/c/Image"])
        #expect(values(args, "-initrd") == ["/r/i.cpio"])
        #expect(QemuCommand.executable(for: .arm64) == "qemu-system-aarch64")
        #expect(QemuCommand.display(args, arch: .arm64).hasPrefix("qemu-system-aarch64 "))
        #expect(QemuCommand.display(args).hasPrefix("qemu-system-x86_64 "))
    }

    @Test func consoleOnThePL011AndAgentOnAVirtioConsole() {
        let args = arguments()
        // One UART (the PL011) carries the console; the agent's socket is a virtconsole.
        #expect(values(args, "-serial") == ["chardev:console"])
        #expect(values(args, "-chardev") == ["pipe,id=console,path=/r/console", "socket,id=agent,path=/r/agent.sock"])
        #expect(values(args, "-device") == ["virtio-serial-device", "virtconsole,chardev=agent,name=handover"])
        let cmdline = values(args, "-append")[0].split(separator: " ").map(String.init)
        #expect(cmdline.contains("console=ttyAMA0"))
        #expect(cmdline.contains("handover.port=/dev/hvc0"))
        #expect(cmdline.contains("kho=on") && cmdline.contains("liveupdate=on"))
        #expect(!cmdline.contains("console=ttyS0"))
    }

    @Test func kvmUsesTheHostCPU() {
        #expect(values(arguments(.kvm), "-cpu") == ["host"])
        #expect(values(arguments(.kvm), "-accel") == ["kvm"])
    }

    @Test func x86CommandLineUnchanged() {
        let line = QemuCommand.kernelCommandLine(stage: 2, extra: ["quiet"])
        #expect(line == "console=ttyS0 kho=on liveupdate=on panic=-1 handover.stage=2 quiet")
    }
}

@Suite("arm64: refusals before boot")
struct Arm64RefusalTests {
    @Test func mixedPairIsRefusedNamingBoth() {
        let chain = [image("linux-7.2", arch: .x86_64), image("linux-7.3-arm64", arch: .arm64)]
        do {
            try ArchitectureCheck.sameArchitecture(chain)
            Issue.record("a mixed pair was accepted")
        } catch let error as HarnessError {
            #expect(error.message.contains("linux-7.2 is x86_64"))
            #expect(error.message.contains("linux-7.3-arm64 is arm64"))
        } catch { Issue.record("unexpected \(error)") }
        #expect(throws: Never.self) { try ArchitectureCheck.sameArchitecture([image("a", arch: .arm64), image("b", arch: .arm64)]) }
        // Images recorded without an architecture are x86_64.
        #expect(throws: Never.self) { try ArchitectureCheck.sameArchitecture([image("a", arch: nil), image("b", arch: .x86_64)]) }
    }

    @Test func mixedPairRunEndsInErrorWithoutBooting() async throws {
        let memfd = try scenario("memfd-basic")
        let chain = [image("linux-7.2-arm64", arch: .arm64), image("linux-7.3", arch: .x86_64)]
        // A run directory, QEMU or an agent would be needed to get further: none is.
        let result = await ScenarioRunner.run(memfd, chain: chain, options: RunOptions(accelerator: .tcg, acceleratorReason: "test"),
                                              progress: ProgressReporter(mode: .quiet))
        #expect(result.verdict == .error)
        #expect(result.reason.contains("mix architectures"))
        #expect(result.blackout == nil)
    }

    @Test func x86OnlyKindsAreUnsupportedOnArm64() async throws {
        let vm = try scenario("vm-basic")
        #expect(ArchitectureCheck.unsupportedReason(vm, arch: .arm64)?.contains("x86 guest program") == true)
        #expect(ArchitectureCheck.unsupportedReason(vm, arch: .x86_64) == nil)
        let chain = [image("linux-7.2-arm64", arch: .arm64), image("linux-7.3-arm64", arch: .arm64)]
        let result = await ScenarioRunner.run(vm, chain: chain, options: RunOptions(accelerator: .tcg, acceleratorReason: "test"),
                                              progress: ProgressReporter(mode: .quiet))
        #expect(result.verdict == .unsupported)
        #expect(result.reason.hasPrefix("arm64: kind vm"))
        let memfd = try scenario("memfd-basic")
        #expect(ArchitectureCheck.unsupportedReason(memfd, arch: .arm64) == nil)
    }

    @Test func crossArchitectureAcceleratorIsTCG() {
        let arm = image("linux-7.3-arm64", arch: .arm64)
        let chosen = ArchitectureCheck.crossAccelerator(arm, host: .x86_64)
        #expect(chosen?.0 == .tcg)
        #expect(chosen?.1.contains("KVM cannot run another architecture") == true)
        #expect(ArchitectureCheck.crossAccelerator(arm, host: .arm64) == nil)
        #expect(ArchitectureCheck.crossAccelerator(image("linux-7.3", arch: .x86_64), host: .x86_64) == nil)
    }

    @Test func predictionAcrossArchitecturesRefusesToPredict() {
        let prediction = HandoverPrediction(from: image("linux-7.3", arch: .x86_64), to: image("linux-7.3-arm64", arch: .arm64))
        #expect(prediction.outcome == .unknown)
        #expect(prediction.reasons == ["linux-7.3 is x86_64 and linux-7.3-arm64 is arm64: a handover never crosses architectures, so nothing is predicted"])
        #expect(HandoverPrediction(from: image("a", arch: .arm64), to: image("b", arch: .arm64)).outcome == .compatible)
    }

    @Test func imageRefCarriesArchOnlyWhenNotX86() {
        #expect(ImageRef(image("a", arch: .arm64)).arch == "arm64")
        #expect(ImageRef(image("a", arch: .x86_64)).arch == nil)
        #expect(ImageRef(image("a", arch: nil)).arch == nil)
    }
}

/// The agent's C shims compiled by the aarch64 cross compiler (as scripts/build-agent.sh does)
/// with their syscall numbers and ioctl request values emitted as data, read back from the
/// assembly and compared with arm64's numbers and with _IOC computed here; with an arm64
/// image in the cache, also against that kernel's own installed uAPI headers.
@Suite("arm64: agent syscalls and ioctls")
struct Arm64AgentABITests {
    /// _IOC as include/uapi/asm-generic/ioctl.h lays it out (arm64 uses the generic layout).
    static func ioc(direction: UInt64, type: UInt64, nr: UInt64, size: UInt64) -> UInt64 {
        direction << 30 | size << 16 | type << 8 | nr
    }

    /// Compiles `body` after the agent's shim.c for aarch64 and returns the values of the
    /// `unsigned long` array `values` it defines, in order.
    static func compiledValues(_ body: String, extraIncludes: [String] = []) async throws -> [UInt64] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("handover-arm64-abi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("check.c")
        let shim = repository.appendingPathComponent("Agent/CLiveUpdate/shim.c").path
        try "#include \"\(shim)\"\n\(body)\n".write(to: source, atomically: true, encoding: .utf8)
        let output = try await Shell.capture(Architecture.arm64.compiler, extraIncludes.flatMap { ["-isystem", $0] } + [
            "-S", "-O0", "-I", repository.appendingPathComponent("Agent/CLiveUpdate/include").path, "-o", "-", source.path])
        guard output.succeeded else {
            Issue.record("aarch64-linux-gnu-gcc failed: \(output.stderr)")
            return []
        }
        // The array's label, then one .xword per element.
        let lines = output.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let start = lines.firstIndex(of: "values:") else { Issue.record("no values in\n\(output.stdout)"); return [] }
        return lines[(start + 1)...].prefix { $0.hasPrefix(".xword") }.compactMap { UInt64($0.dropFirst(".xword".count).trimmingCharacters(in: .whitespaces)) }
    }

    @Test func syscallNumbersAreArm64s() async throws {
        // asm-generic/unistd.h, which arm64 uses: kexec_file_load 294, reboot 142, memfd_create 279.
        let values = try await Self.compiledValues("const unsigned long values[] = { SYS_kexec_file_load, SYS_reboot, SYS_memfd_create };")
        #expect(values == [294, 142, 279])
    }

    @Test func liveUpdateIoctlsAreIOWithTypeBA() async throws {
        let values = try await Self.compiledValues("""
            #include <asm/ioctl.h>
            const unsigned long values[] = { HV_IO(0x00), HV_IO(0x01), HV_IO(0x40), HV_IO(0x41), HV_IO(0x42), HV_IO(0x43),
                                             _IO(0xBA, 0x00), _IO(0xBA, 0x43), sizeof(struct hv_luo_fd_arg), sizeof(struct hv_luo_session_arg) };
            """)
        let computed = [0x00, 0x01, 0x40, 0x41, 0x42, 0x43].map { Self.ioc(direction: 0, type: 0xBA, nr: $0, size: 0) }
        #expect(Array(values.prefix(6)) == computed)
        #expect(values.count == 10 && values[6] == computed[0] && values[7] == computed[5])
        // The token is 8-byte aligned on aarch64 as on x86_64; the session struct is 4 + 4 + 64.
        #expect(values.suffix(2) == [16, 72])
    }

    /// Against the uAPI headers of a cached arm64 image, when one is there: the kernel's own
    /// LIVEUPDATE_IOCTL_* and __NR_kexec_file_load.
    @Test func matchesACachedArm64ImagesHeaders() async throws {
        let store = ImageStore(paths: CachePaths.fromEnvironment())
        guard let arm = store.all().first(where: { $0.arch == .arm64 && FileManager.default.fileExists(atPath: $0.headers.appendingPathComponent("include/linux/liveupdate.h").path) }) else {
            return  // No arm64 image built on this machine yet; the checks above still ran.
        }
        let include = arm.headers.appendingPathComponent("include").path
        let values = try await Self.compiledValues("""
            #include <linux/liveupdate.h>
            #include <asm/unistd.h>
            const unsigned long values[] = { HV_IO(0x00), LIVEUPDATE_IOCTL_CREATE_SESSION, HV_IO(0x01), LIVEUPDATE_IOCTL_RETRIEVE_SESSION,
                                             HV_IO(0x40), LIVEUPDATE_SESSION_PRESERVE_FD, HV_IO(0x41), LIVEUPDATE_SESSION_RETRIEVE_FD,
                                             HV_IO(0x42), LIVEUPDATE_SESSION_FINISH, SYS_kexec_file_load, __NR_kexec_file_load };
            """, extraIncludes: [include])
        #expect(values.count == 12)
        for pair in stride(from: 0, to: values.count - 1, by: 2) {
            #expect(values[pair] == values[pair + 1], "value \(pair / 2) differs from \(arm.recipe)'s headers")
        }
    }
}

@Suite("arm64: the matrix's architecture axis")
struct Arm64MatrixTests {
    static let images: [String: KernelImage] = {
        var result: [String: KernelImage] = [:]
        for (name, arch, release) in [("linux-7.2", Architecture.x86_64, "7.2.13"), ("linux-7.3", .x86_64, "7.3.4"),
                                      ("linux-7.2-arm64", .arm64, "7.2.13"), ("linux-7.3-arm64", .arm64, "7.3.4")] {
            var built = image(name, arch: arch)
            built.kernelRelease = release
            result[name] = built
        }
        return result
    }()

    static func matrix(_ pairs: String, chains: String = "") throws -> MatrixFile {
        try MatrixFile.parse(text: """
            name: both
            images: [linux-7.2, linux-7.3, linux-7.2-arm64, linux-7.3-arm64]
            scenarios: [memfd-basic]
            pairs: \(pairs)
            \(chains)
            """, file: "Matrices/both.yaml")
    }

    @Test(arguments: ["all", "upgrade", "rollback"])
    func generatedPairsStayWithinAnArchitecture(_ pairs: String) throws {
        let memfd = try scenario("memfd-basic")
        let plan = MatrixPlan.make(matrix: try Self.matrix(pairs), images: Self.images, scenarios: ["memfd-basic": memfd])
        #expect(!plan.cells.isEmpty)
        for cell in plan.cells {
            let arches = Set(cell.chain.map { Self.images[$0]!.arch })
            #expect(arches.count == 1, "\(cell.chain)")
            #expect(cell.arch == (arches.first == .arm64 ? "arm64" : nil))
        }
        // Both architectures are in the one plan.
        #expect(plan.cells.contains { $0.arch == "arm64" } && plan.cells.contains { $0.arch == nil })
        if pairs == "upgrade" {
            #expect(plan.cells.map(\.chain) == [["linux-7.2", "linux-7.3"], ["linux-7.2-arm64", "linux-7.3-arm64"]])
        }
    }

    @Test func mixedExplicitPairOrChainIsRefusedNamingFileAndKey() throws {
        let arches = Self.images.mapValues(\.arch)
        let pair = try Self.matrix("\n  - {from: linux-7.2-arm64, to: linux-7.3-arm64}\n  - {from: linux-7.2, to: linux-7.3-arm64}")
        do {
            try MatrixArchitectures.check(pair, arches: arches)
            Issue.record("a mixed pair was accepted")
        } catch {
            #expect(error.file == "Matrices/both.yaml")
            #expect(error.keyPath == "pairs[1]")
            #expect(error.description.contains("linux-7.2 is x86_64") && error.description.contains("linux-7.3-arm64 is arm64"))
        }
        let chain = try Self.matrix("none", chains: "chains:\n  - [linux-7.2-arm64, linux-7.3-arm64, linux-7.2]")
        do {
            try MatrixArchitectures.check(chain, arches: arches)
            Issue.record("a mixed chain was accepted")
        } catch {
            #expect(error.keyPath == "chains[0]")
        }
        #expect(throws: Never.self) { try MatrixArchitectures.check(try Self.matrix("upgrade"), arches: arches) }
    }

    @Test func cellNameCarriesTheArchitectureOnlyForArm64() {
        var cell = MatrixCell(scenario: "memfd-basic", chain: ["a", "b"], releases: [], direction: .upgrade, verdict: .pass,
                              reason: "", runs: [], regressions: [], unsupportedAllowed: true)
        #expect(cell.name == "memfd-basic: a -> b")
        cell.arch = "arm64"
        #expect(cell.name == "memfd-basic: a -> b [arm64]")
    }
}
