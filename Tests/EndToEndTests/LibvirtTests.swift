import Foundation
import Testing

/// What the libvirt end-to-end tests need besides E2E's prerequisites: libvirtd answering on
/// qemu:///system and, for the remote path, on loopback TCP (scripts/libvirt-daemons.sh
/// start; scripts/test.sh exports HANDOVER_LIBVIRT_TCP_URI).
enum LibvirtE2E {
    static let localURI = "qemu:///system"
    static var tcpURI: String {
        ProcessInfo.processInfo.environment["HANDOVER_LIBVIRT_TCP_URI"] ?? "qemu+tcp://127.0.0.1:16519/system"
    }

    static var virshPath: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/virsh" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs virsh and returns its exit status and standard output (nil when virsh is missing).
    static func virsh(_ arguments: [String], timeout: TimeInterval = 20) -> (status: Int32, output: String)? {
        guard let virshPath else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: virshPath)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func answers(_ uri: String) -> Bool { virsh(["-c", uri, "version"])?.status == 0 }

    /// Fails (never skips) when the daemon does not answer: the suite is only enabled without
    /// HANDOVER_E2E when it does.
    static func require(_ uri: String) throws {
        try E2E.requirePrerequisites()
        guard virshPath != nil else { throw E2E.PrerequisiteMissing(what: "virsh is not installed (scripts/setup.sh)") }
        guard answers(uri) else {
            throw E2E.PrerequisiteMissing(what: "libvirtd does not answer on \(uri) (scripts/libvirt-daemons.sh start)")
        }
    }

    /// handover's domains (all of them, running or not) and storage pools on a connection.
    static func domains(_ uri: String = localURI) -> Set<String> {
        names(virsh(["-c", uri, "list", "--all", "--name"])?.output)
    }

    static func pools(_ uri: String = localURI) -> Set<String> {
        names(virsh(["-c", uri, "pool-list", "--all", "--name"])?.output)
    }

    static func names(_ output: String?) -> Set<String> {
        Set((output ?? "").split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("handover-") })
    }

    /// QEMU processes libvirt started for handover domains.
    static func qemuProcesses() -> Set<Int32> {
        Set(E2E.processes(containing: "guest=handover-").filter { pid in
            let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            return String(decoding: data.prefix { $0 != 0 }, as: UTF8.self).hasSuffix("qemu-system-x86_64")
        })
    }

    struct Snapshot {
        var domains: Set<String>
        var pools: Set<String>
        var qemu: Set<Int32>
    }

    static func snapshot() -> Snapshot { Snapshot(domains: domains(), pools: pools(), qemu: qemuProcesses()) }

    /// Nothing of handover's is left on the host after a command: no domain, no pool, no QEMU,
    /// no pool folder (what another handover held before the command is not counted).
    static func expectNothingLeft(since before: Snapshot, sourceLocation: SourceLocation = #_sourceLocation) {
        let domains = domains().subtracting(before.domains)
        #expect(domains.isEmpty, "handover domains left: \(domains.sorted())", sourceLocation: sourceLocation)
        let pools = pools().subtracting(before.pools)
        #expect(pools.isEmpty, "handover pools left: \(pools.sorted())", sourceLocation: sourceLocation)
        var qemu = qemuProcesses().subtracting(before.qemu)
        let gone = Date().addingTimeInterval(5)
        while !qemu.isEmpty && Date() < gone {
            usleep(100_000)
            qemu = qemuProcesses().subtracting(before.qemu)
        }
        #expect(qemu.isEmpty, "QEMU processes of handover domains left: \(qemu.sorted())", sourceLocation: sourceLocation)
        let folders = Set((try? FileManager.default.contentsOfDirectory(atPath: "/var/lib/libvirt/handover-pools")) ?? [])
            .subtracting(before.pools)
        #expect(folders.isEmpty, "pool folders left in /var/lib/libvirt/handover-pools: \(folders.sorted())", sourceLocation: sourceLocation)
    }

    static var enabled: Bool { E2E.required || answers(localURI) }
    static var tcpEnabled: Bool { E2E.required || answers(tcpURI) }
}

extension EndToEnd {
@Suite("libvirt backend", .enabled(if: LibvirtE2E.enabled))
struct LibvirtTests {
    func run(_ arguments: [String]) throws -> (E2E.Output, [String: Any], URL) {
        let out = E2E.temporaryFolder()
        let output = try E2E.run(["run", "memfd-basic", "--from", "linux-7.2", "--to", "linux-7.3"] + arguments
                                 + ["--accel", "tcg", "--out", out.path, "--json"])
        let result = try E2E.json(output.stdout)
        return (output, result, out)
    }

    /// The checks RunTests makes of the QEMU backend's memfd-basic run, and the artifacts.
    func expectPassingRun(_ output: E2E.Output, _ result: [String: Any], out: URL) throws {
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "pass")
        #expect(result["accelerator"] as? String == "tcg")
        let blackout = try #require(result["blackout"] as? [String: Any])
        let total = try #require(blackout["total"] as? Double)
        #expect(total > 0.01 && total < 60)
        for phase in ["shutdown", "kernelBoot", "agentStart", "restore"] {
            let value = try #require(blackout[phase] as? Double, "phase \(phase) missing")
            #expect(value >= 0 && value <= total, "phase \(phase) = \(value) of \(total)")
        }
        let objects = try #require(result["objects"] as? [[String: Any]])
        #expect(objects.count == 4)
        #expect(objects.allSatisfy { $0["ok"] as? Bool == true })
        let checks = try #require(result["checks"] as? [[String: Any]])
        #expect(checks.count >= 8)
        #expect(checks.allSatisfy { $0["passed"] as? Bool == true })
        let hellos = try #require(result["hellos"] as? [[String: Any]])
        #expect(hellos.count == 2)
        #expect(hellos.last?["liveUpdateNumber"] as? Int == 1)
        #expect((hellos.last?["previousRelease"] as? String)?.hasPrefix("7.2.") == true)
        #expect(result["vmSeconds"] as? Double ?? 0 > 0)

        // The same artifacts as QEMU's, in the same formats, plus the domain XML.
        let console = try String(contentsOf: out.appendingPathComponent("console.log"), encoding: .utf8)
        let consoleLines = console.split(separator: "\n")
        #expect(consoleLines.count > 20)
        #expect(consoleLines.allSatisfy { $0.range(of: #"^\[ *[0-9]+\.[0-9]{6}\] "#, options: .regularExpression) != nil },
                "console.log lines without a host timestamp")
        #expect(console.contains("Run /init as init process"))
        let transcript = try String(contentsOf: out.appendingPathComponent("transcript.jsonl"), encoding: .utf8)
        let entries = try transcript.split(separator: "\n").map { try E2E.json(String($0)) }
        #expect(entries.contains { $0["from"] as? String == "agent" })
        #expect(entries.contains { $0["from"] as? String == "runner" })
        #expect(entries.allSatisfy { $0["t"] is Double && $0["line"] is String })
        let domain = try String(contentsOf: out.appendingPathComponent("domain.xml"), encoding: .utf8)
        #expect(domain.contains("<on_reboot>destroy</on_reboot>"))
        #expect(domain.contains("/var/lib/libvirt/handover-pools/"))
        #expect(domain.contains("/sha256-"), "volumes are named after their content")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
        try expectSetupApartFromVMTime(result)
    }

    /// The set-up before the VM (connection, uploads, the domain's paused start, its streams)
    /// is reported step by step as its own figure, and the VM's time starts after it: the two
    /// intervals do not overlap, so together they fit in the run's wall time.
    func expectSetupApartFromVMTime(_ result: [String: Any]) throws {
        let setup = try #require(result["setup"] as? [String: Any], "result.json has no setup")
        let steps = try #require(setup["steps"] as? [[String: Any]])
        #expect(steps.compactMap { $0["name"] as? String } == ["connect", "upload kernel", "upload initramfs", "create domain", "open streams"])
        #expect(steps.allSatisfy { ($0["seconds"] as? Double ?? -1) >= 0 })
        let uploads = steps.filter { ($0["name"] as? String ?? "").hasPrefix("upload") }
        #expect(uploads.allSatisfy { ($0["detail"] as? String ?? "").range(of: #"^(uploaded|reused) [0-9.]+ MB \(sha256 [0-9a-f]{12}\)"#, options: .regularExpression) != nil },
                "\(uploads)")
        let seconds = try #require(setup["seconds"] as? Double)
        let stepSum = steps.reduce(0) { $0 + ($1["seconds"] as? Double ?? 0) }
        #expect(seconds > 0 && seconds + 1e-6 >= stepSum, "setup \(seconds) s, steps \(stepSum) s")
        let vm = try #require(result["vmSeconds"] as? Double)
        let wall = try #require(result["wallSeconds"] as? Double)
        #expect(seconds + vm <= wall, "setup \(seconds) s + VM \(vm) s exceed the wall time \(wall) s")
    }

    @Test("linux-7.3 boots under libvirt and says hello")
    func boot() throws {
        try LibvirtE2E.require(LibvirtE2E.localURI)
        let before = LibvirtE2E.snapshot()
        let output = try E2E.run(["boot", "linux-7.3", "--backend", "libvirt", "--accel", "tcg", "--json"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let result = try E2E.json(output.stdout)
        let hello = try #require(result["hello"] as? [String: Any])
        #expect((hello["kernelRelease"] as? String)?.hasPrefix("7.3.") == true)
        #expect(hello["liveUpdateDevice"] as? Bool == true)
        #expect((hello["cmdline"] as? String)?.contains("handover.stage=1") == true)
        #expect(result["accelerator"] as? String == "tcg")
        #expect(result["poweredOffCleanly"] as? Bool == true)
        let setup = try #require(result["setup"] as? [String: Any], "boot's result has no setup")
        #expect((setup["steps"] as? [[String: Any]])?.count == 5)
        LibvirtE2E.expectNothingLeft(since: before)
    }

    @Test("memfd-basic passes from linux-7.2 to linux-7.3 on qemu:///system with the QEMU backend's result fields")
    func runLocal() throws {
        try LibvirtE2E.require(LibvirtE2E.localURI)
        let before = LibvirtE2E.snapshot()
        let (output, result, out) = try run(["--backend", "libvirt"])
        defer { try? FileManager.default.removeItem(at: out) }
        try expectPassingRun(output, result, out: out)
        LibvirtE2E.expectNothingLeft(since: before)

        // The same run under the QEMU backend gives the same fields.
        let (qemuOutput, qemuResult, qemuOut) = try run([])
        defer { try? FileManager.default.removeItem(at: qemuOut) }
        #expect(qemuOutput.status == 0, "QEMU backend: \(qemuOutput.stderr)")
        #expect(Set(result.keys) == Set(qemuResult.keys))
        #expect(Set((result["blackout"] as? [String: Any] ?? [:]).keys) == Set((qemuResult["blackout"] as? [String: Any] ?? [:]).keys))
        #expect(result["reason"] as? String == qemuResult["reason"] as? String)
        // QEMU started directly has no set-up before its clock: it starts at QEMU's spawn.
        let qemuSetup = try #require(qemuResult["setup"] as? [String: Any])
        #expect(qemuSetup["seconds"] as? Double == 0)
        #expect((qemuSetup["steps"] as? [Any])?.isEmpty == true)
    }

    @Test("memfd-basic passes over a remote connection (loopback TCP)", .enabled(if: LibvirtE2E.tcpEnabled))
    func runRemote() throws {
        try LibvirtE2E.require(LibvirtE2E.tcpURI)
        let before = LibvirtE2E.snapshot()
        let (output, result, out) = try run(["--backend", "libvirt", "--connect", LibvirtE2E.tcpURI])
        defer { try? FileManager.default.removeItem(at: out) }
        try expectPassingRun(output, result, out: out)
        LibvirtE2E.expectNothingLeft(since: before)
    }

    @Test("iommufd-basic under libvirt: the IOMMU topology works there too, and ends like under QEMU")
    func iommufdTopology() throws {
        try LibvirtE2E.require(LibvirtE2E.localURI)
        let before = LibvirtE2E.snapshot()
        let out = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let output = try E2E.run(["run", "iommufd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--backend", "libvirt",
                                  "--accel", "tcg", "--out", out.path, "--json"])
        let result = try E2E.json(output.stdout)
        #expect(output.status == 3, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "unsupported")
        #expect(result["errno"] as? Int == 2)
        let steps = result["steps"] as? [[String: Any]] ?? []
        #expect(steps.contains { $0["step"] as? String == "vfio-attach-hwpt" && $0["ok"] as? Bool == true })
        LibvirtE2E.expectNothingLeft(since: before)
    }

    @Test("SIGINT while the guest boots destroys the domain and its pool")
    func interruptDestroysDomain() throws {
        try LibvirtE2E.require(LibvirtE2E.localURI)
        let before = LibvirtE2E.snapshot()
        let running = try E2E.start(["boot", "linux-7.3", "--backend", "libvirt", "--accel", "tcg", "--timeout", "120"])
        var domains: Set<String> = []
        let deadline = Date().addingTimeInterval(60)
        while domains.isEmpty && Date() < deadline && running.process.isRunning {
            domains = LibvirtE2E.domains().subtracting(before.domains)
            usleep(50_000)
        }
        try #require(!domains.isEmpty, "no handover domain appeared; stderr: \(running.stderrText)")
        running.process.interrupt()
        let output = running.finish()
        #expect(output.status == 130, "handover should exit 130 on SIGINT; stderr: \(output.stderr)")
        LibvirtE2E.expectNothingLeft(since: before)
    }

    @Test("an unreachable libvirt fails with libvirt's message")
    func unreachable() throws {
        try E2E.requirePrerequisites()
        let output = try E2E.run(["boot", "linux-7.3", "--backend", "libvirt", "--connect", "qemu+tcp://127.0.0.1:1/system", "--accel", "tcg"])
        #expect(output.status == 2)
        #expect(output.stderr.contains("libvirt: ") && output.stderr.contains("127.0.0.1"), "stderr: \(output.stderr)")
    }

    @Test("a matrix spreads its runs over QEMU and two libvirt connections, each with its own job limit")
    func matrixOverSeveralBackends() throws {
        try LibvirtE2E.require(LibvirtE2E.localURI)
        try LibvirtE2E.require(LibvirtE2E.tcpURI)
        let before = LibvirtE2E.snapshot()
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let matrix = folder.appendingPathComponent("matrix.yaml")
        try """
            name: backends
            images: [linux-7.2, linux-7.3]
            scenarios: [memfd-basic]
            pairs: all
            accel: tcg
            backends:
              - {backend: qemu, jobs: 1}
              - {backend: libvirt, connect: "\(LibvirtE2E.localURI)", jobs: 1}
              - {backend: libvirt, connect: "\(LibvirtE2E.tcpURI)", jobs: 1}
            """.write(to: matrix, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("results")
        let output = try E2E.run(["matrix", matrix.path, "--out", out.path, "--no-history"], timeout: 900)
        #expect(output.status == 0, "stdout: \(output.stdout) stderr: \(output.stderr)")
        let walker = FileManager.default.enumerator(at: out.appendingPathComponent("runs"), includingPropertiesForKeys: nil)
        let results = (walker?.allObjects as? [URL] ?? []).filter { $0.lastPathComponent == "result.json" }
        #expect(results.count == 4)
        let backends = Set(try results.map { try E2E.json(String(contentsOf: $0, encoding: .utf8))["backend"] as? String ?? "none" })
        #expect(backends.count >= 2, "runs were not spread: \(backends)")
        #expect(backends.isSubset(of: ["qemu", "libvirt \(LibvirtE2E.localURI)", "libvirt \(LibvirtE2E.tcpURI)"]), "\(backends)")
        LibvirtE2E.expectNothingLeft(since: before)
    }
}
}
