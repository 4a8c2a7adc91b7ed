import Foundation
import HandoverSupport

/// What a bisection asks git about the user's repository (read-only).
public enum GitHistory {
    public struct Commit: Codable, Sendable, Equatable {
        public var hash: String
        public var subject: String
        public var author: String

        public init(hash: String, subject: String, author: String) {
            self.hash = hash
            self.subject = subject
            self.author = author
        }

        /// A commit hash's first 12 digits; a recipe's name as it is.
        public var short: String {
            hash.count == 40 && hash.allSatisfy(\.isHexDigit) ? String(hash.prefix(12)) : hash
        }
    }

    /// The top folder of the repository holding `path`, or an error saying it is not one.
    public static func topLevel(of path: URL) async throws -> URL {
        let output = try await Shell.capture("git", ["-C", path.path, "rev-parse", "--show-toplevel"])
        guard output.succeeded else {
            throw BisectInputError(option: "--tree", "expected a git repository; \(path.path) is not in one (\(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))")
        }
        return URL(fileURLWithPath: output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func commonDirectory(of path: URL) async throws -> String {
        let output = try await Shell.check("git", ["-C", path.path, "rev-parse", "--path-format=absolute", "--git-common-dir"])
        return URL(fileURLWithPath: output.trimmingCharacters(in: .whitespacesAndNewlines)).standardizedFileURL.path
    }

    /// The full hash of a revision, or an error naming the option that gave it.
    public static func resolve(_ revision: String, in tree: URL, option: String) async throws -> String {
        let output = try await Shell.capture("git", ["-C", tree.path, "rev-parse", "--verify", "--quiet", "--end-of-options", revision + "^{commit}"])
        guard output.succeeded else {
            throw BisectInputError(option: option, "expected a commit of \(tree.path); git knows no revision '\(revision)'")
        }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The commits after `good` up to and including `bad` along first parents, oldest first.
    /// Empty when `good` is not an ancestor of `bad` on that line.
    public static func firstParentLine(good: String, bad: String, in tree: URL) async throws -> [Commit] {
        let ancestor = try await Shell.capture("git", ["-C", tree.path, "merge-base", "--is-ancestor", good, bad])
        guard ancestor.succeeded else { return [] }
        let output = try await Shell.check("git", ["-C", tree.path, "log", "--first-parent", "--reverse",
                                                   "--format=%H%x1f%s%x1f%an <%ae>", "\(good)..\(bad)"])
        return output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3 else { return nil }
            return Commit(hash: fields[0], subject: fields[1], author: fields[2])
        }
    }

    public static func commit(_ hash: String, in tree: URL) async throws -> Commit {
        let output = try await Shell.check("git", ["-C", tree.path, "log", "-1", "--format=%H%x1f%s%x1f%an <%ae>", hash])
        let fields = output.trimmingCharacters(in: .newlines).split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 3 else { throw HarnessError(.toolFailed, "git log -1 \(hash) gave '\(output)'") }
        return Commit(hash: fields[0], subject: fields[1], author: fields[2])
    }
}

/// A bisect option that is wrong, named with what was expected; refused before anything builds.
public struct BisectInputError: Error, CustomStringConvertible, Sendable, Equatable {
    public var option: String
    public var message: String

    public init(option: String, _ message: String) {
        self.option = option
        self.message = message
    }

    public var description: String { "\(option): \(message)" }
}
