import Foundation
import HandoverSupport

/// A build folder kept between builds of one tree with one configuration, so a build after a
/// small change recompiles only what changed. The compiler runs through handover's
/// `CompilerCache` when ccache is installed, so a file seen before (a commit revisited, or the
/// same file in an image build) is not compiled again either.
public struct IncrementalBuild: Sendable, Equatable {
    public var folder: URL
    /// nil when ccache is not installed.
    public var ccache: CompilerCache?

    public init(folder: URL, ccache: CompilerCache?) {
        self.folder = folder
        self.ccache = ccache
    }

    public static func make(folder: URL, paths: CachePaths) -> IncrementalBuild {
        IncrementalBuild(folder: folder, ccache: CompilerCache.make(paths: paths))
    }

    /// A file written by the previous finished build: its presence makes the next one incremental.
    public var finishedStamp: URL { folder.appendingPathComponent(".handover-finished") }

    /// Whether a build in this folder finished before (so the next one reuses its objects).
    public var hasFinishedBuild: Bool {
        FileManager.default.fileExists(atPath: finishedStamp.path)
            && FileManager.default.fileExists(atPath: folder.appendingPathComponent("vmlinux").path)
    }

    public func markFinished(commit: String) throws {
        try AtomicFile.write(commit + "\n", to: finishedStamp)
    }

    /// The .config of the previous build, to give it back its timestamp when the configuration
    /// steps wrote the same text again (make would otherwise rebuild on the newer .config).
    struct ConfigSnapshot {
        package var file: URL
        var text: Data
        var modified: Date

        init?(_ file: URL) {
            guard let text = try? Data(contentsOf: file),
                  let modified = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date
            else { return nil }
            self.file = file
            self.text = text
            self.modified = modified
        }

        func restoreIfUnchanged() {
            guard (try? Data(contentsOf: file)) == text else { return }
            try? FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: file.path)
        }
    }
}
