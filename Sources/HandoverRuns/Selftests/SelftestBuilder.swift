import Foundation
import HandoverSupport
import HandoverImages

/// Builds the kernel's own live update selftests from an image's source tree, statically,
/// against that tree's installed headers, and caches them beside the image.
public struct SelftestBuilder: Sendable {
    public struct Binaries: Codable, Sendable {
        public var folder: String
        public var tests: [String: String]
        /// nolibc (as upstream's vmtest builds them) or glibc-static (older trees whose tests need libc).
        public var linkage: [String: String]
        public var sourceTree: String
        public var image: String
    }

    public let progress: ProgressReporter

    public init(progress: ProgressReporter) { self.progress = progress }

    static let testFolder = "tools/testing/selftests/liveupdate"

    public func hasSelftests(_ image: KernelImage) -> Bool {
        guard let tree = image.sourceTree else { return false }
        return FileManager.default.isDirectory(URL(fileURLWithPath: tree).appendingPathComponent(Self.testFolder))
    }

    public func build(for image: KernelImage, tests: [String]) async throws -> Binaries {
        guard let treePath = image.sourceTree else {
            throw HarnessError(.notFound, "\(image.recipe) has no source tree recorded; its selftests cannot be built")
        }
        let tree = URL(fileURLWithPath: treePath)
        let sources = tree.appendingPathComponent(Self.testFolder)
        guard FileManager.default.isDirectory(sources) else {
            throw HarnessError(.notFound, "\(image.recipe) (\(image.kernelRelease)) has no \(Self.testFolder): its tree predates the live update selftests")
        }
        let folder = image.folder!.appendingPathComponent("selftests")
        let manifest = folder.appendingPathComponent("selftests.json")
        if let cached = try? JSONCoding.decode(Binaries.self, from: manifest), tests.allSatisfy({ cached.tests[$0] != nil }) {
            return cached
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        progress.step("\(image.recipe): building selftests \(tests.joined(separator: ", ")) from \(tree.path)")
        let headers = image.headers.appendingPathComponent("include").path
        // 7.3 keeps the helpers in lib/, 7.2 beside the tests.
        let libFolder = sources.appendingPathComponent("lib")
        let helper = FileManager.default.fileExists(atPath: libFolder.appendingPathComponent("lu_utils.c").path)
            ? libFolder.appendingPathComponent("lu_utils.c") : sources.appendingPathComponent("luo_test_utils.c")
        let includes = ["-I", sources.path, "-I", sources.deletingLastPathComponent().path] +
            (FileManager.default.isDirectory(libFolder.appendingPathComponent("include")) ? ["-I", libFolder.appendingPathComponent("include").path] : [])

        var binaries = Binaries(folder: folder.path, tests: [:], linkage: [:], sourceTree: tree.path, image: image.recipe)
        var log = ""
        for test in tests {
            if let (folderName, name) = Scenario.Selftests.folder(of: test) {
                // Another selftests folder (a series' own test): its Makefile knows its
                // libraries; built statically against the image's headers, into the image.
                let testFolder = tree.appendingPathComponent("tools/testing/selftests/\(folderName)")
                guard FileManager.default.fileExists(atPath: testFolder.appendingPathComponent("\(name).c").path) else {
                    throw HarnessError(.notFound, "\(image.recipe) has no selftest \(test) (\(testFolder.path)/\(name).c)")
                }
                let output = folder.appendingPathComponent(folderName)
                let arguments = ["-C", testFolder.path, "-j2", "OUTPUT=\(output.path)", "KHDR_INCLUDES=-isystem \(headers)",
                                 "LDFLAGS=-static", "CC=\(image.arch.compiler)", output.appendingPathComponent(name).path]
                let result = try await Shell.capture("make", arguments)
                log += "$ make \(arguments.joined(separator: " "))\n\(result.stdout.suffix(4000))\n\(result.stderr)\n"
                guard result.succeeded else {
                    try? AtomicFile.write(log, to: folder.appendingPathComponent("build.log"))
                    throw HarnessError(.buildFailed, "cannot build selftest \(test) from \(image.recipe)'s tree; see \(folder.path)/build.log",
                                       tail: result.stderr.split(separator: "\n").suffix(8).map(String.init))
                }
                binaries.tests[test] = output.appendingPathComponent(name).path
                binaries.linkage[test] = "glibc-static"
                continue
            }
            let source = sources.appendingPathComponent("\(test).c")
            guard FileManager.default.fileExists(atPath: source.path) else {
                throw HarnessError(.notFound, "\(image.recipe) has no selftest \(test) (\(source.path))")
            }
            let output = folder.appendingPathComponent(test)
            let nolibc = ["-static", "-O2", "-nostdinc", "-nostdlib", "-I", headers, "-I", tree.appendingPathComponent("tools/include/nolibc").path]
                + includes + ["-o", output.path, source.path, helper.path]
            let glibc = ["-static", "-O2", "-D_GNU_SOURCE", "-isystem", headers] + includes + ["-o", output.path, source.path, helper.path]
            var attempts = [("glibc-static", glibc)]
            if test != Scenario.Selftests.ioctlSuite { attempts.insert(("nolibc", nolibc), at: 0) }
            var built = false
            for (linkage, arguments) in attempts {
                // The image's own compiler: aarch64-linux-gnu-gcc for an arm64 image (issue 20).
                let compiler = image.arch.compiler
                let result = try await Shell.capture(compiler, arguments)
                log += "$ \(compiler) \(arguments.joined(separator: " "))\n\(result.stderr)\n"
                if result.succeeded {
                    binaries.tests[test] = output.path
                    binaries.linkage[test] = linkage
                    built = true
                    break
                }
            }
            guard built else {
                try? AtomicFile.write(log, to: folder.appendingPathComponent("build.log"))
                throw HarnessError(.buildFailed, "cannot build selftest \(test) from \(image.recipe)'s tree; see \(folder.path)/build.log",
                                   tail: log.split(separator: "\n").suffix(8).map(String.init))
            }
        }
        try AtomicFile.write(log, to: folder.appendingPathComponent("build.log"))
        try AtomicFile.writeJSON(binaries, to: manifest)
        return binaries
    }
}
