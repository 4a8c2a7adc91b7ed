import Foundation
import HandoverSupport

/// `Images/versions.lock`: the Debian version each (package, pattern, suite) of the recipes
/// resolves to, written by `image lock`. While a line covers a recipe's source, the recipe
/// builds that version whatever the package lists say, so a new upload never changes the
/// kernel under test unnoticed. One line a source:
///
///     linux-source-7.3 7.3.* trixie-backports = 7.3.4-1~bpo13+1
public struct VersionLock: Sendable, Equatable {
    public struct Entry: Sendable, Equatable, Hashable {
        public var package: String
        public var pattern: String
        public var suite: String
    }

    public static let fileName = "versions.lock"
    public var versions: [Entry: String] = [:]

    public init(versions: [Entry: String] = [:]) { self.versions = versions }

    public static func file(in recipes: URL) -> URL { recipes.appendingPathComponent(fileName) }

    /// The lock beside the recipes, or an empty one when there is none.
    public static func load(recipes: URL) throws(InputError) -> VersionLock {
        let url = file(in: recipes)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return VersionLock() }
        var lock = VersionLock()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let halves = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let words = halves.first?.split(separator: " ").map(String.init) ?? []
            guard halves.count == 2, words.count == 3, !halves[1].isEmpty, !halves[1].contains(" ") else {
                throw InputError(file: url.path, keyPath: "versions", line: index + 1,
                                 message: "expected 'PACKAGE PATTERN SUITE = VERSION', found '\(line)'")
            }
            lock.versions[Entry(package: words[0], pattern: words[1], suite: words[2])] = halves[1]
        }
        return lock
    }

    public var text: String {
        let lines = versions.sorted { ($0.key.package, $0.key.suite, $0.key.pattern) < ($1.key.package, $1.key.suite, $1.key.pattern) }
            .map { "\($0.key.package) \($0.key.pattern) \($0.key.suite) = \($0.value)" }
        return "# Written by handover image lock: the Debian version each recipe source builds. Change it with\n"
            + "# handover image lock --refresh (or delete a line to let its pattern float again).\n"
            + lines.joined(separator: "\n") + "\n"
    }

    public func write(recipes: URL) throws {
        try AtomicFile.write(text, to: Self.file(in: recipes))
    }

    public func version(package: String, pattern: String, suite: String) -> String? {
        versions[Entry(package: package, pattern: pattern, suite: suite)]
    }

    /// The version the lock beside a Debian recipe pins its source to, if any.
    public static func pinned(_ recipe: Recipe) throws(InputError) -> String? {
        guard case .debian(let package, let pattern, let suite) = recipe.source else { return nil }
        return try load(recipes: recipe.file.deletingLastPathComponent()).version(package: package, pattern: pattern, suite: suite)
    }
}

extension ImageBuilder {
    /// Resolves each Debian recipe's pattern against the package lists (fetched anew with
    /// `refresh`), ignoring any lock, and returns the lock that pins what they resolve to now.
    public func lock(_ recipes: [Recipe], refresh: Bool, keeping existing: VersionLock) async throws -> VersionLock {
        var lock = existing
        for recipe in recipes {
            guard case .debian(let package, let pattern, let suite) = recipe.source else { continue }
            guard let version = try await archive.resolve(package: package, pattern: pattern, suite: suite, refresh: refresh) else {
                throw InputError(file: recipe.file.path, keyPath: "source.debian.version", message: "no version of \(package) in \(suite) matches '\(pattern)'")
            }
            lock.versions[.init(package: package, pattern: pattern, suite: suite)] = version
        }
        return lock
    }
}
