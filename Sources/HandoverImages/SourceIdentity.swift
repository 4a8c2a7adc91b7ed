import Foundation
import HandoverSupport

/// What identifies a recipe's source for the cache key, resolved without building anything.
package struct ResolvedSource: Sendable {
    var identity: String
    var info: KernelImage.SourceInfo
    /// For a Debian source, the .deb to unpack (downloaded lazily on a miss).
    var debian: (package: String, version: String, suite: String)?

    package init(
        identity: String,
        info: KernelImage.SourceInfo,
        debian: (package: String, version: String, suite: String)? = nil
    ) {
        self.identity = identity
        self.info = info
        self.debian = debian
    }
}

extension ResolvedSource {
    static func resolve(_ recipe: Recipe, archive: DebianArchive, refresh: Bool) async throws -> ResolvedSource {
        switch recipe.source {
        case .debian(let package, let pattern, let suite):
            if let locked = try VersionLock.pinned(recipe) {
                // The lists are still what apt-get download needs.
                try await archive.prepare(suite: suite, refresh: refresh)
                return ResolvedSource(
                    identity: "debian:\(package)=\(locked)",
                    info: .init(kind: "debian", package: package, packageVersion: locked, suite: suite),
                    debian: (package, locked, suite))
            }
            guard let version = try await archive.resolve(package: package, pattern: pattern, suite: suite, refresh: refresh) else {
                let available = (try? await archive.availableVersions(of: package, suite: suite)) ?? []
                throw InputError(
                    file: recipe.file.path, keyPath: available.isEmpty ? "source.debian.package" : "source.debian.version",
                    message: available.isEmpty
                        ? "package \(package) does not exist in suite \(suite)"
                        : "no version of \(package) in \(suite) matches '\(pattern)'; available: \(available.joined(separator: ", "))")
            }
            return ResolvedSource(
                identity: "debian:\(package)=\(version)",
                info: .init(kind: "debian", package: package, packageVersion: version, suite: suite),
                debian: (package, version, suite))
        case .tree(let path):
            let (commit, dirty, dirtyDigest) = try await treeState(path)
            var info = KernelImage.SourceInfo(kind: "tree", tree: path.path, commit: commit, dirty: dirty)
            (info.remote, info.branch) = await remote(of: path)
            return ResolvedSource(
                identity: "tree:\(path.path)@\(commit)\(dirty ? "+dirty:\(dirtyDigest)" : "")",
                info: info)
        case .package(let deb):
            let fields = try await Shell.check("dpkg-deb", ["-f", deb.path, "Package", "Version"])
            let values = Dictionary(fields.split(separator: "\n").compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }, uniquingKeysWith: { first, _ in first })
            return ResolvedSource(identity: "package:\(try Digest.sha256(file: deb))",
                                  info: .init(kind: "package", package: values["Package"], packageVersion: values["Version"], prebuiltFrom: deb.path))
        case .prebuilt(let bzImage, let config, let tree):
            let identity = "prebuilt:\(try Digest.sha256(file: bzImage)):\(try Digest.sha256(file: config))"
            var info = KernelImage.SourceInfo(kind: "prebuilt", prebuiltFrom: bzImage.path)
            if let tree {
                let (commit, dirty, _) = try await treeState(tree)
                info.tree = tree.path
                info.commit = commit
                info.dirty = dirty
                (info.remote, info.branch) = await remote(of: tree)
            }
            return ResolvedSource(identity: identity, info: info)
        }
    }

    /// The branch checked out in a git tree and the URL of the remote it tracks (origin's when
    /// it tracks none); nil for what git cannot tell. Not part of the cache key: only recorded.
    package static func remote(of tree: URL) async -> (remote: String?, branch: String?) {
        func git(_ arguments: [String]) async -> String? {
            guard let output = try? await Shell.capture("git", ["-C", tree.path] + arguments), output.succeeded else { return nil }
            let text = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : text
        }
        let branch = await git(["symbolic-ref", "--quiet", "--short", "HEAD"])
        var remoteName = "origin"
        if let branch, let tracked = await git(["config", "branch.\(branch).remote"]) { remoteName = tracked }
        return (await git(["remote", "get-url", remoteName]).map(withoutCredentials), branch)
    }

    /// A remote URL without the user and password an https remote may carry (a token must not
    /// reach image.json or a report).
    package static func withoutCredentials(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }

    /// A git tree is its HEAD plus a digest of what differs from it; any other tree is
    /// "content-" and a digest of every file's path, size and modification time (never dirty:
    /// there is nothing it could differ from).
    package static func treeState(_ tree: URL) async throws -> (commit: String, dirty: Bool, digest: String) {
        let head = try await Shell.capture("git", ["-C", tree.path, "rev-parse", "HEAD"])
        if head.succeeded {
            let commit = head.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let status = try await Shell.check("git", ["-C", tree.path, "status", "--porcelain", "--untracked-files=normal"])
            guard !status.isEmpty else { return (commit, false, "") }
            let diff = try await Shell.check("git", ["-C", tree.path, "diff", "HEAD", "--binary"])
            var material = status + diff
            let untracked = try await Shell.check("git", ["-C", tree.path, "ls-files", "--others", "--exclude-standard"])
            for file in untracked.split(separator: "\n") {
                material += "\(file):\((try? Digest.sha256(file: tree.appendingPathComponent(String(file)))) ?? "unreadable")\n"
            }
            return (commit, true, String(Digest.sha256(Data(material.utf8)).prefix(16)))
        }
        var material = ""
        let fm = FileManager.default
        if let walker = fm.enumerator(at: tree, includingPropertiesForKeys: [.fileSizeKey, .contentModificationDateKey]) {
            for case let url as URL in walker {
                let values = try? url.resourceValues(forKeys: [.fileSizeKey, .contentModificationDateKey])
                material += "\(url.path):\(values?.fileSize ?? -1):\(values?.contentModificationDate?.timeIntervalSince1970 ?? 0)\n"
            }
        }
        // Not a git checkout: nothing to be dirty against; the content digest is its version.
        let digest = String(Digest.sha256(Data(material.utf8)).prefix(16))
        return ("\(KernelImage.contentPrefix)\(digest)", false, digest)
    }
}
