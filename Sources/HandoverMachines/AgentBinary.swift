import Foundation
import HandoverCore
import HandoverSupport
import HandoverImages

/// The static guest agent that becomes /init: $HANDOVER_AGENT, else the Embedded Swift agent
/// scripts/build-agent.sh builds (SwiftPM runs it before HandoverMachines builds) into
/// `.build/agent/ARCH/`, found from the running executable (`.build/debug/handover`).
public enum AgentBinary {
    public static let architecture = "x86_64"

    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment, arch: Architecture = .default) throws -> URL {
        if arch != .x86_64 { return try locateCross(arch, environment: environment) }
        if let explicit = environment["HANDOVER_AGENT"], !explicit.isEmpty {
            let url = URL(fileURLWithPath: explicit)
            guard FileManager.default.isExecutableFile(atPath: url.path) else {
                throw HarnessError(.notFound, "HANDOVER_AGENT=\(explicit) is not an executable file")
            }
            return url
        }
        let selfPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var folder = URL(fileURLWithPath: selfPath).deletingLastPathComponent()
        // Test bundles live one level deeper (…/debug/handoverPackageTests.xctest/…).
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("agent/\(architecture)/handover-agent")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder.deleteLastPathComponent()
        }
        throw HarnessError(.notFound, "the guest agent was not found in an agent/\(architecture) folder above \(selfPath); `swift build` builds it (scripts/build-agent.sh), or set HANDOVER_AGENT")
    }
}

extension Initramfs {
    /// Where things live inside every handover initramfs.
    public enum Layout {
        public static let plan = "handover/plan.json"
        public static func nextKernel(_ hop: Int) -> String { "handover/hop\(hop)/bzImage" }
        public static func nextInitrd(_ hop: Int) -> String { "handover/hop\(hop)/initrd.cpio" }
    }

    /// The agent as /init with the device nodes a bare kernel needs, and the modules the
    /// kernel it boots loads first (an image built with `modules:`).
    public static func agentBase(agent: URL, kernel: KernelImage? = nil) -> Initramfs {
        var archive = Initramfs()
        archive.addStandardNodes()
        archive.addFile("init", from: agent, mode: 0o755)
        archive.addDirectory("handover")
        if let kernel, let order = kernel.moduleLoadOrder, !order.isEmpty {
            let tree = "lib/modules/\(kernel.kernelRelease)"
            for path in order { archive.addFile("\(tree)/\(path)", from: kernel.modulesTree.appendingPathComponent(path)) }
            archive.addFile(ModuleLoad.orderFile, data: Data(order.map { "\(tree)/\($0)\n" }.joined().utf8))
        }
        return archive
    }
}
