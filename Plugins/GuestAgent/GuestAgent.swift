import Foundation
import PackagePlugin

/// Builds the Embedded Swift guest agent before the targets that boot it, so `swift build`
/// never leaves a stale agent beside a new runner. scripts/build-agent.sh does the work and
/// returns at once when the agent's sources have not changed.
@main
struct GuestAgent: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let script = context.package.directoryURL.appending(path: "scripts/build-agent.sh")
        // Prebuild commands start with an empty environment: hand on where the compilers are.
        let swiftc = try context.tool(named: "swiftc").url
        var environment = ["SWIFTC": swiftc.path]
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return [
            .prebuildCommand(
                displayName: "Building the guest agent (Embedded Swift)",
                executable: URL(fileURLWithPath: "/bin/bash"),
                arguments: [script.path, "all"],
                environment: environment,
                outputFilesDirectory: context.pluginWorkDirectoryURL.appending(path: "unused"))
        ]
    }
}
