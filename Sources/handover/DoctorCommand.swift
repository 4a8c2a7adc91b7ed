import ArgumentParser
import Foundation
import HandoverImages
import HandoverMachines
import HandoverSupport

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this host before anything is built: tools, QEMU, KVM, libvirt, package suites, disk, Python. Exit 1 when something needed is missing.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let checks = try await reportingErrors {
            let catalog = global.catalog
            let recipes = try catalog.names().map { try catalog.load($0) }
            let root = catalog.folder.deletingLastPathComponent()
            return await HostDoctor(paths: global.paths, recipes: recipes, packageRoot: root, progress: global.progress).run()
        }
        if json {
            print(String(decoding: try JSONCoding.encode(checks), as: UTF8.self))
        } else {
            for check in checks {
                let mark = switch check.status { case .ok: "OK     "; case .warning: "WARN   "; case .problem: "PROBLEM" }
                print("\(mark) \(check.name): \(check.detail)")
                if let fix = check.fix { print("        fix: \(fix)") }
            }
        }
        if checks.contains(where: { $0.status == .problem }) { throw ExitCode(1) }
    }
}
