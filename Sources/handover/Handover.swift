import ArgumentParser
import Foundation
import HandoverLibvirt
import HandoverSupport
import HandoverImages
import HandoverMachines
import HandoverBisect

@main
struct Handover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handover",
        abstract: "Qualifies Linux live updates (KHO/LUO) across kernel pairs.",
        subcommands: [ImageCommand.self, DoctorCommand.self, BootCommand.self, RunCommand.self, BisectCommand.self, MatrixCommand.self, ReportCommand.self, CompareCommand.self])

    /// The backends this build has: QEMU and libvirt.
    static let machines = LibvirtBackend.machines

    /// Cleans what a killed runner left, then runs as usual.
    static func main() async {
        // Run directories (and the QEMUs naming them) left by a handover that was killed.
        for reaped in RunDirectory.reapStale() {
            let killed = reaped.killed.isEmpty ? "" : ", stopped its processes \(reaped.killed.map(String.init).joined(separator: " "))"
            FileHandle.standardError.write(Data("handover: removed \(reaped.directory.path), left by a runner that is gone (\(reaped.owner))\(killed)\n".utf8))
        }
        // ArgumentParser's own usage errors exit 64 (EX_USAGE); handover's README promises 2 for
        // every kind of bad input, so parse here and map them.
        do {
            var command = try parseAsRoot(nil)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            LibvirtBackend.shutdown()
        } catch {
            LibvirtBackend.shutdown()
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

struct GlobalOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print every step and tool output.")
    var verbose = false

    @Flag(name: .shortAndLong, help: "Print nothing but results and errors.")
    var quiet = false

    @Option(name: .customLong("images"), help: "The folder of image recipes (default: the nearest Images/).")
    var imagesFolder: String?

    var progress: ProgressReporter { ProgressReporter(mode: verbose ? .verbose : quiet ? .quiet : .normal) }
    var paths: CachePaths { CachePaths.fromEnvironment() }
    var catalog: RecipeCatalog { RecipeCatalog.locate(explicit: imagesFolder) }

    /// A cached image by key, or a recipe's image, built first when the cache lacks it.
    func image(named name: String) async throws -> KernelImage {
        if !name.contains("/"), !name.hasSuffix(".yaml"), catalog.names().contains(name) == false,
           let cached = try ImageStore(paths: paths).locate(name) {
            return cached
        }
        let recipe = try catalog.load(name)
        return try await ImageBuilder(paths: paths, progress: progress).build(recipe)
    }
}

/// Turns the harness's own errors into a one-line message and exit code 2 (the harness broke
/// or the input was bad), rather than a stack of Swift error descriptions.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    defer { ChildProcesses.shared.exitIfInterrupted() }
    do {
        return try await body()
    } catch let error as InputError {
        printError(error.description)
        throw ExitCode(2)
    } catch let error as HarnessError {
        printError(error.description)
        throw ExitCode(2)
    } catch let error as BisectInputError {
        printError(error.description)
        throw ExitCode(2)
    } catch let error as CacheDamage {
        printError(error.description + "; rebuild it with: handover image build --force RECIPE")
        throw ExitCode(2)
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        // Anything else is the harness's fault too (the documented code for it is 2, never 1,
        // which means a kernel failed).
        printError(String(describing: error))
        throw ExitCode(2)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data("handover: error: \(text)\n".utf8))
}
