import Foundation
import Testing
@testable import HandoverCore

/// End-to-end tests run the real `handover` executable against real kernels under QEMU.
/// They need the images in the cache and qemu-system-x86_64. With HANDOVER_E2E=1 (as in CI)
/// a missing prerequisite fails the test instead of skipping it.
enum E2E {
    static var required: Bool { ProcessInfo.processInfo.environment["HANDOVER_E2E"] == "1" }

    static var enabled: Bool { required || missingPrerequisite == nil }

    static let packageRoot: URL = {
        var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while folder.path != "/" && !FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
            folder.deleteLastPathComponent()
        }
        return folder
    }()

    static var executable: URL? {
        let selfPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var folder = URL(fileURLWithPath: selfPath).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = folder.appendingPathComponent("handover")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder.deleteLastPathComponent()
        }
        return nil
    }

    static var missingPrerequisite: String? {
        guard executable != nil else { return "the handover executable is not built (swift build)" }
        guard let path = ProcessInfo.processInfo.environment["PATH"],
              path.split(separator: ":").contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/qemu-system-x86_64") }) else {
            return "qemu-system-x86_64 is not installed"
        }
        for image in ["linux-7.2", "linux-7.3", "linux-6.12", "linux-7.3-luo-v6"] {
            let result = try? run(["image", "show", image])
            if result?.status != 0 { return "image \(image) is not built (handover image build \(image))" }
        }
        return nil
    }

    /// HANDOVER_MAIL for the series kernels' recipes, as scripts/test.sh sets it: the archive
    /// copy beside the checkout (../shared/series) when the caller set none.
    static var mailEnvironment: [String: String] {
        if let set = ProcessInfo.processInfo.environment["HANDOVER_MAIL"], !set.isEmpty { return [:] }
        let beside = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/series")
        return FileManager.default.fileExists(atPath: beside.path) ? ["HANDOVER_MAIL": beside.path] : [:]
    }

    static func requirePrerequisites() throws {
        if let missing = missingPrerequisite { throw PrerequisiteMissing(what: missing) }
    }

    /// Only what a test uses: the executable, QEMU and these images.
    static func requirePrerequisites(images: [String]) throws {
        guard executable != nil else { throw PrerequisiteMissing(what: "the handover executable is not built (swift build)") }
        for image in images where (try? run(["image", "show", image]))?.status != 0 {
            throw PrerequisiteMissing(what: "image \(image) is not built (handover image build \(image))")
        }
    }

    struct PrerequisiteMissing: Error, CustomStringConvertible {
        var what: String
        var description: String { "end-to-end prerequisite missing: \(what)" }
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs handover with the package root as working directory and waits for it.
    static func run(_ arguments: [String], timeout: TimeInterval = 300, environment: [String: String] = [:]) throws -> Output {
        let process = try start(arguments, environment: environment)
        let deadline = Date().addingTimeInterval(timeout)
        while process.process.isRunning && Date() < deadline { usleep(50_000) }
        if process.process.isRunning {
            process.process.interrupt()
            process.process.waitUntilExit()
        }
        return process.finish()
    }

    final class Running: @unchecked Sendable {
        let process: Process
        let stdout: Pipe
        let stderr: Pipe
        var out = Data()
        var err = Data()
        let lock = NSLock()

        init(process: Process, stdout: Pipe, stderr: Pipe) {
            self.process = process
            self.stdout = stdout
            self.stderr = stderr
            stdout.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                self?.lock.withLock { self?.out.append(data) }
            }
            stderr.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                self?.lock.withLock { self?.err.append(data) }
            }
        }

        var stderrText: String { lock.withLock { String(decoding: err, as: UTF8.self) } }

        func finish() -> Output {
            process.waitUntilExit()
            stdout.fileHandleForReading.readabilityHandler = nil
            stderr.fileHandleForReading.readabilityHandler = nil
            let restOut = stdout.fileHandleForReading.readDataToEndOfFile()
            let restErr = stderr.fileHandleForReading.readDataToEndOfFile()
            return lock.withLock {
                out.append(restOut)
                err.append(restErr)
                return Output(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                              stderr: String(decoding: err, as: UTF8.self))
            }
        }
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Running {
        guard let executable else { throw PrerequisiteMissing(what: "the handover executable") }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let withMail = mailEnvironment.merging(environment) { $1 }
        if !withMail.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(withMail) { $1 }
        }
        let running = Running(process: process, stdout: stdout, stderr: stderr)
        try process.run()
        return running
    }

    /// QEMU processes started by the given handover process.
    static func qemu(startedBy parent: Int32) -> [Int32] {
        processes(containing: "qemu-system-x86_64 -name handover").filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }
    }

    /// Processes whose command line contains `needle`.
    static func processes(containing needle: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let text = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return text.contains(needle)
        }
    }

    static func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("handover-e2e-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// `handover run ARGUMENTS` under TCG into a new folder, with its exit, its JSON result and the folder.
    static func runScenario(_ arguments: [String], images: [String]? = nil) throws -> (Output, [String: Any], URL) {
        if let images { try requirePrerequisites(images: images) } else { try requirePrerequisites() }
        let out = temporaryFolder()
        let output = try run(["run"] + arguments + ["--accel", "tcg", "--out", out.path, "--json"])
        return (output, try json(output.stdout), out)
    }

    /// A result's agent steps by name (the first of each name).
    static func steps(_ result: [String: Any]) -> [String: [String: Any]] {
        let list = result["steps"] as? [[String: Any]] ?? []
        return Dictionary(list.map { ($0["step"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
    }

    static func json(_ text: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        guard let dictionary = object as? [String: Any] else { throw PrerequisiteMissing(what: "a JSON object on stdout, got: \(text.prefix(300))") }
        return dictionary
    }
}

/// Every end-to-end test, one at a time: they boot VMs and look for stray QEMU processes,
/// which another test's VM would confuse.
@Suite("End to end", .serialized, .tags(.requiresQEMU, .requiresKernelImages), .enabled(if: E2E.enabled))
struct EndToEnd {}

extension Tag {
    @Tag static var requiresQEMU: Self
    @Tag static var requiresKernelImages: Self
}
