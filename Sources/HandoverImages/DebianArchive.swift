import Foundation
import HandoverSupport

/// Fetches Debian packages from a suite the machine may not have configured, through a
/// private apt state under the cache. The archive URI and keyring come from the machine's own
/// apt configuration; the system's apt setup is never touched.
public struct DebianArchive: Sendable {
    public struct Origin: Sendable, Equatable {
        public var uri: String
        public var keyring: String?
    }

    public let paths: CachePaths
    public let progress: ProgressReporter

    public init(paths: CachePaths, progress: ProgressReporter) {
        self.paths = paths
        self.progress = progress
    }

    /// The first Debian archive (not the security archive) in /etc/apt.
    public static func configuredOrigin(aptRoot: URL = URL(fileURLWithPath: "/etc/apt")) throws -> Origin {
        var candidates: [Origin] = []
        let list = aptRoot.appendingPathComponent("sources.list")
        if let text = try? String(contentsOf: list, encoding: .utf8) { candidates += parseOneLineStyle(text) }
        let partsFolder = aptRoot.appendingPathComponent("sources.list.d")
        for file in ((try? FileManager.default.contentsOfDirectory(atPath: partsFolder.path)) ?? []).sorted() {
            guard let text = try? String(contentsOf: partsFolder.appendingPathComponent(file), encoding: .utf8) else { continue }
            if file.hasSuffix(".sources") { candidates += parseDeb822(text) }
            else if file.hasSuffix(".list") { candidates += parseOneLineStyle(text) }
        }
        let main = candidates.first { !$0.uri.contains("security") && !$0.uri.contains("ports") }
        guard let main else {
            throw HarnessError(.notFound, "no Debian archive is configured in \(aptRoot.path) (sources.list or sources.list.d/*.sources); handover takes the archive URI from there")
        }
        return main
    }

    package static func parseDeb822(_ text: String) -> [Origin] {
        var result: [Origin] = []
        for stanza in text.components(separatedBy: "\n\n") {
            var fields: [String: String] = [:]
            for line in stanza.split(separator: "\n") where !line.hasPrefix("#") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            guard fields["types"]?.split(separator: " ").contains("deb") == true,
                  fields["enabled"]?.lowercased() != "no",
                  let uris = fields["uris"] else { continue }
            for uri in uris.split(separator: " ") {
                result.append(Origin(uri: String(uri), keyring: fields["signed-by"]))
            }
        }
        return result
    }

    package static func parseOneLineStyle(_ text: String) -> [Origin] {
        var result: [Origin] = []
        for line in text.split(separator: "\n") {
            // Options are "[name=value ...]" and may hold several words; fields are separated by any blanks.
            var rest = line.drop(while: \.isWhitespace)
            guard rest.split(whereSeparator: \.isWhitespace).first == "deb" else { continue }
            rest = rest.dropFirst(3).drop(while: \.isWhitespace)
            var keyring: String?
            if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else { continue }
                let inner = rest[rest.index(after: rest.startIndex)..<close]
                for option in inner.split(whereSeparator: \.isWhitespace) where option.hasPrefix("signed-by=") {
                    keyring = String(option.dropFirst("signed-by=".count))
                }
                rest = rest[rest.index(after: close)...]
            }
            if let uri = rest.split(whereSeparator: \.isWhitespace).first { result.append(Origin(uri: String(uri), keyring: keyring)) }
        }
        return result
    }

    private func stateFolder(suite: String) -> URL { paths.apt.appendingPathComponent(suite) }

    private func aptOptions(suite: String) -> [String] {
        let state = stateFolder(suite: suite)
        return [
            "-o", "Dir::Etc::SourceList=/dev/null",
            "-o", "Dir::Etc::SourceParts=\(state.appendingPathComponent("sources").path)",
            "-o", "Dir::State::Lists=\(state.appendingPathComponent("lists").path)",
            "-o", "Dir::Cache=\(state.appendingPathComponent("cache").path)",
            "-o", "Debug::NoLocking=1",
            "-o", "APT::Sandbox::User=root",
        ]
    }

    /// Writes the private sources file and fetches the package lists when they are missing or
    /// when asked (`image build --refresh`, `image lock --refresh`). Never on its own: a new
    /// upload changes what a version pattern resolves to, and so the kernel under test, only
    /// when somebody asks for it.
    func prepare(suite: String, refresh: Bool) async throws {
        let fm = FileManager.default
        let state = stateFolder(suite: suite)
        for sub in ["sources", "lists/partial", "cache/archives/partial"] {
            try fm.createDirectory(at: state.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let origin = try Self.configuredOrigin()
        var stanza = "Types: deb\nURIs: \(origin.uri)\nSuites: \(suite)\nComponents: main\n"
        if let keyring = origin.keyring { stanza += "Signed-By: \(keyring)\n" }
        let sourcesFile = state.appendingPathComponent("sources/handover.sources")
        let previous = try? String(contentsOf: sourcesFile, encoding: .utf8)
        if previous != stanza { try AtomicFile.write(stanza, to: sourcesFile) }

        let stamp = state.appendingPathComponent("lists/.updated")
        guard refresh || previous != stanza || !fm.fileExists(atPath: stamp.path) else { return }
        progress.step("updating the package lists of \(suite) from \(origin.uri)")
        try await Shell.check("apt-get", ["-q"] + aptOptions(suite: suite) + ["update"])
        try AtomicFile.write(Date().description, to: stamp)
    }

    /// Versions of a package in a suite, newest first.
    func versions(of package: String, suite: String) async throws -> [String] {
        let output = try await Shell.check("apt-cache", aptOptions(suite: suite) + ["madison", package])
        return output.split(separator: "\n").compactMap { line in
            let columns = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            return columns.count >= 2 && columns[0] == package ? columns[1] : nil
        }
    }

    /// The newest version of `package` in `suite` that matches the glob `pattern`.
    public func resolve(package: String, pattern: String, suite: String, refresh: Bool) async throws -> String? {
        try await prepare(suite: suite, refresh: refresh)
        // Reading a large suite's lists (sid) takes most of a second; the answer only changes
        // when the lists do, so it is remembered against their update stamp.
        let state = stateFolder(suite: suite)
        let memo = state.appendingPathComponent("resolved.json")
        let stamp = (try? FileManager.default.attributesOfItem(atPath: state.appendingPathComponent("lists/.updated").path)[.modificationDate] as? Date)?
            .timeIntervalSince1970 ?? 0
        let key = "\(package)|\(pattern)|\(stamp)"
        var known = (try? JSONDecoder().decode([String: String].self, from: Data(contentsOf: memo))) ?? [:]
        if let version = known[key] { return version }
        guard let version = try await versions(of: package, suite: suite).first(where: { Self.version($0, matches: pattern) }) else {
            return nil
        }
        known = known.filter { $0.key.hasSuffix("|\(stamp)") }
        known[key] = version
        try? AtomicFile.write(try JSONEncoder().encode(known), to: memo)
        return version
    }

    public func availableVersions(of package: String, suite: String) async throws -> [String] {
        try await versions(of: package, suite: suite)
    }

    /// Debian versions match a glob on the upstream part too: "7.3.*" matches "7.3.4-1~bpo13+1".
    public static func version(_ version: String, matches pattern: String) -> Bool {
        if fnmatch(pattern, version, 0) == 0 { return true }
        let upstream = version.split(separator: "-").first.map(String.init) ?? version
        return fnmatch(pattern, upstream, 0) == 0
    }

    /// The .deb of package=version, downloaded once into the cache.
    public func download(package: String, version: String, suite: String) async throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: paths.downloads, withIntermediateDirectories: true)
        let escaped = version.replacingOccurrences(of: ":", with: "%3a")
        let file = paths.downloads.appendingPathComponent("\(package)_\(escaped)_all.deb")
        if fm.fileExists(atPath: file.path) { return file }
        progress.step("downloading \(package) \(version) from \(suite)")
        try await Shell.check("apt-get", ["-q"] + aptOptions(suite: suite) + ["download", "\(package)=\(version)"], in: paths.downloads)
        guard fm.fileExists(atPath: file.path) else {
            throw HarnessError(.notFound, "apt-get download \(package)=\(version) did not leave \(file.path)")
        }
        return file
    }
}
