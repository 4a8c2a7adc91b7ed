import Foundation
import HandoverImages
import HandoverSupport

/// One line of `handover doctor`: what was checked on this host, and what to do when it is
/// not right.
public struct HostCheck: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Works as handover needs it.
        case ok
        /// handover works, with less (TCG only, no libvirt backend, slower builds).
        case warning
        /// Something handover needs is missing or broken.
        case problem
    }

    public var name: String
    public var status: Status
    public var detail: String
    /// What to do, when the status is not ok.
    public var fix: String?

    public init(_ name: String, _ status: Status, _ detail: String, fix: String? = nil) {
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}

/// Checks this host before anything is built: tools, QEMU, KVM and nesting, libvirt's access
/// to /dev/kvm, the package suites the recipes need, free disk in the cache, cross compilers,
/// the Python environment. Every check asks the host itself (runs the tool, opens the device,
/// resolves the package); nothing is inferred from a file's presence where asking is possible.
public struct HostDoctor: Sendable {
    public var paths: CachePaths
    public var recipes: [Recipe]
    public var packageRoot: URL
    public var progress: ProgressReporter

    /// Below this much free space in the cache a cold build of every shipped recipe may fail.
    public static let comfortableFreeBytes: Int64 = 20 << 30
    public static let minimumFreeBytes: Int64 = 5 << 30
    public static let minimumQemu = (major: 7, minor: 2)
    public static let minimumSwift = (major: 6, minor: 2)

    public init(paths: CachePaths, recipes: [Recipe], packageRoot: URL, progress: ProgressReporter) {
        self.paths = paths
        self.recipes = recipes
        self.packageRoot = packageRoot
        self.progress = progress
    }

    public func run() async -> [HostCheck] {
        var checks: [HostCheck] = []
        checks.append(await versionCheck("swift", tool: "swift", arguments: ["--version"], pattern: "Swift version ",
                                         minimum: Self.minimumSwift, fix: "install Swift 6.2 or later (swift.org) and put it on PATH"))
        checks.append(buildTools())
        let architectures = Set(recipes.map(\.arch)).union([.x86_64])
        for arch in Architecture.allCases where architectures.contains(arch) {
            checks.append(await versionCheck("QEMU (\(arch.rawValue))", tool: QemuCommand.executable(for: arch), arguments: ["--version"],
                                             pattern: "QEMU emulator version ", minimum: Self.minimumQemu,
                                             fix: "scripts/setup.sh installs \(arch == .x86_64 ? "qemu-system-x86" : "qemu-system-arm")"))
            if let cross = arch.crossCompile {
                checks.append(toolCheck("cross compiler (\(arch.rawValue))", "\(cross)gcc",
                                        fix: "scripts/setup.sh installs gcc-aarch64-linux-gnu and libc6-dev-arm64-cross"))
            }
        }
        checks.append(toolCheck("compiler cache", "ccache", missing: .warning,
                                fix: "apt-get install ccache: without it kernels of one source compile every file again"))
        checks += kvm()
        checks.append(await libvirtKVMAccess())
        checks.append(freeDisk())
        checks += await packageSuites()
        checks.append(pythonEnvironment())
        return checks
    }

    func toolCheck(_ name: String, _ tool: String, missing: HostCheck.Status = .problem, fix: String) -> HostCheck {
        guard let path = Lifeline.resolve(tool) else { return HostCheck(name, missing, "\(tool) is not on PATH", fix: fix) }
        return HostCheck(name, .ok, path)
    }

    func buildTools() -> HostCheck {
        let tools = ["make", "gcc", "flex", "bison", "bc", "cpio", "rsync", "xz", "patch", "git", "dpkg-deb"]
        let missing = tools.filter { Lifeline.resolve($0) == nil }
        guard missing.isEmpty else {
            return HostCheck("kernel build tools", .problem, "missing: \(missing.joined(separator: ", "))", fix: "scripts/setup.sh installs them")
        }
        return HostCheck("kernel build tools", .ok, tools.joined(separator: ", "))
    }

    func versionCheck(_ name: String, tool: String, arguments: [String], pattern: String,
                      minimum: (major: Int, minor: Int), fix: String) async -> HostCheck {
        guard let path = Lifeline.resolve(tool) else { return HostCheck(name, .problem, "\(tool) is not on PATH", fix: fix) }
        guard let output = try? await Shell.capture(path, arguments), output.succeeded else {
            return HostCheck(name, .problem, "\(path) \(arguments.joined(separator: " ")) failed", fix: fix)
        }
        guard let version = Self.version(in: output.stdout, after: pattern) else {
            return HostCheck(name, .warning, "\(path): cannot read its version from \"\(output.stdout.prefix(80))\"")
        }
        let text = "\(version.major).\(version.minor)"
        guard (version.major, version.minor) >= minimum else {
            return HostCheck(name, .problem, "\(path) is \(text); \(minimum.major).\(minimum.minor) or later is needed", fix: fix)
        }
        return HostCheck(name, .ok, "\(text) (\(path))")
    }

    /// "QEMU emulator version 7.2.15 (Debian ...)" -> (7, 2).
    static func version(in text: String, after pattern: String) -> (major: Int, minor: Int)? {
        guard let range = text.range(of: pattern) else { return nil }
        let numbers = text[range.upperBound...].prefix { $0.isNumber || $0 == "." }.split(separator: ".").compactMap { Int($0) }
        guard numbers.count >= 2 else { return nil }
        return (numbers[0], numbers[1])
    }

    func kvm() -> [HostCheck] {
        let device = "/dev/kvm"
        guard FileManager.default.fileExists(atPath: device) else {
            return [HostCheck("KVM", .warning, "\(device) does not exist: every VM runs under TCG (slow; verdicts hold, times are not production numbers)",
                              fix: "on bare metal, load kvm_intel or kvm_amd; in a VM, enable nested virtualization on its host")]
        }
        let fd = open(device, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            return [HostCheck("KVM", .warning, "\(device) cannot be opened read-write by this user (\(reason)): TCG only",
                              fix: "add this user to the group that owns \(device), or run as root")]
        }
        close(fd)
        var checks = [HostCheck("KVM", .ok, "\(device) opens read-write; each run still probes that a guest boots under KVM before it uses it")]
        let nested = ["kvm_intel", "kvm_amd"].compactMap { module -> (String, String)? in
            guard let value = try? String(contentsOfFile: "/sys/module/\(module)/parameters/nested", encoding: .utf8) else { return nil }
            return (module, value.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if let (module, value) = nested.first {
            let on = ["Y", "1"].contains(value)
            checks.append(HostCheck("nested virtualization", on ? .ok : .warning,
                                    "\(module) nested=\(value)" + (on ? "" : ": vm and guest-memfd scenarios under KVM end unsupported"),
                                    fix: on ? nil : "modprobe -r \(module) && modprobe \(module) nested=1"))
        } else {
            checks.append(HostCheck("nested virtualization", .warning,
                                    "neither kvm_intel nor kvm_amd is loaded here (KVM is provided by a hypervisor below, or built in): cannot tell; a run's result says what it found"))
        }
        return checks
    }

    /// libvirt runs QEMU as libvirt-qemu; libvirt 9 re-probes QEMU at every lookup (about 50 s a
    /// domain start) when that user cannot open /dev/kvm, even for TCG domains.
    func libvirtKVMAccess() async -> HostCheck {
        let name = "libvirt's access to /dev/kvm"
        guard getpwnam("libvirt-qemu") != nil else {
            return HostCheck(name, .warning, "no user libvirt-qemu: the libvirt backend cannot run here",
                             fix: "scripts/libvirt-daemons.sh start creates it (or apt-get install libvirt-daemon-system)")
        }
        guard FileManager.default.fileExists(atPath: "/dev/kvm") else { return HostCheck(name, .ok, "no /dev/kvm; nothing to open") }
        guard let setpriv = Lifeline.resolve("setpriv") else { return HostCheck(name, .warning, "setpriv is missing: cannot check as libvirt-qemu") }
        let probe = try? await Shell.capture(setpriv, ["--reuid", "libvirt-qemu", "--regid", "libvirt-qemu", "--init-groups",
                                                       "test", "-r", "/dev/kvm", "-a", "-w", "/dev/kvm"])
        guard let probe else { return HostCheck(name, .warning, "could not run setpriv as libvirt-qemu") }
        guard probe.succeeded else {
            return HostCheck(name, .problem, "libvirt-qemu cannot open /dev/kvm read-write: libvirt re-probes QEMU at every domain start (about 50 s each)",
                             fix: "groupadd -f --system kvm; usermod -aG kvm libvirt-qemu; chgrp kvm /dev/kvm; chmod 660 /dev/kvm (scripts/libvirt-daemons.sh start does this)")
        }
        return HostCheck(name, .ok, "libvirt-qemu opens /dev/kvm read-write")
    }

    func freeDisk() -> HostCheck {
        var folder = paths.root
        while !FileManager.default.fileExists(atPath: folder.path), folder.path != "/" { folder.deleteLastPathComponent() }
        guard let attributes = try? FileManager.default.attributesOfFileSystem(forPath: folder.path),
              let free = (attributes[.systemFreeSize] as? NSNumber)?.int64Value else {
            return HostCheck("free disk", .warning, "cannot read the free space of \(folder.path)")
        }
        let text = "\(free >> 30) GiB free for \(paths.root.path)"
        if free < Self.minimumFreeBytes {
            return HostCheck("free disk", .problem, text, fix: "free space, or point XDG_CACHE_HOME or HANDOVER_CACHE at a larger disk")
        }
        if free < Self.comfortableFreeBytes {
            return HostCheck("free disk", .warning, text + "; a cold build of every shipped recipe needs about 20 GiB",
                             fix: "free space, or point XDG_CACHE_HOME or HANDOVER_CACHE at a larger disk")
        }
        return HostCheck("free disk", .ok, text)
    }

    /// Each Debian package the recipes take, resolved in its suite as a build would resolve it.
    func packageSuites() async -> [HostCheck] {
        let archive = DebianArchive(paths: paths, progress: progress)
        var seen = Set<String>()
        var checks: [HostCheck] = []
        for recipe in recipes {
            guard case .debian(let package, let version, let suite) = recipe.source, seen.insert("\(package) \(version) \(suite)").inserted else { continue }
            let name = "\(package) \(version) (\(suite))"
            do {
                if let resolved = try await archive.resolve(package: package, pattern: version, suite: suite, refresh: false) {
                    checks.append(HostCheck(name, .ok, "resolves to \(resolved)"))
                } else {
                    checks.append(HostCheck(name, .problem, "no version matching \(version) in \(suite) (needed by \(recipe.file.lastPathComponent))",
                                            fix: "check the recipe's version and suite, or refresh the lists: handover image build --refresh \(recipe.name)"))
                }
            } catch {
                checks.append(HostCheck(name, .problem, "\(error)", fix: "the machine must reach deb.debian.org (or its configured mirror)"))
            }
        }
        return checks
    }

    func pythonEnvironment() -> HostCheck {
        let venv = packageRoot.appendingPathComponent(".venv")
        let python = venv.appendingPathComponent("bin/python3")
        guard FileManager.default.isExecutableFile(atPath: python.path),
              let pins = try? String(contentsOf: venv.appendingPathComponent(".pins"), encoding: .utf8) else {
            return HostCheck("Python environment", .warning, "\(venv.path) is missing: KCIDB validation and the CI recipe lint cannot run",
                             fix: "scripts/setup.sh makes it")
        }
        return HostCheck("Python environment", .ok, "\(venv.path): \(pins.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
}
