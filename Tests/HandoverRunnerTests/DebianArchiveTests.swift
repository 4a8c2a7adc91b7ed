import Foundation
import Testing
@testable import HandoverSupport
@testable import HandoverImages


private let keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

/// Debian trixie's own /etc/apt/sources.list.d/debian.sources, security archive first so that
/// picking the first stanza would be wrong.
private let deb822Text = """
    # Written by the installer.
    Types: deb
    URIs: http://deb.debian.org/debian-security
    Suites: trixie-security
    Components: main
    Signed-By: \(keyring)

    Types: deb deb-src
    URIs: http://deb.debian.org/debian
    Suites: trixie trixie-updates
    Components: main non-free-firmware
    Signed-By: \(keyring)

    """

/// A fake /etc/apt in a temporary folder.
private struct AptRoot {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("handover-apt-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("sources.list.d"), withIntermediateDirectories: true)
    }

    func write(_ relative: String, _ text: String) throws {
        try text.write(to: root.appendingPathComponent(relative), atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

@Suite("DebianArchive")
struct DebianArchiveTests {
    // MARK: - deb822 .sources

    @Test func parseDeb822WithMainAndSecurityStanzas() {
        let origins = DebianArchive.parseDeb822(deb822Text)
        #expect(origins == [
            DebianArchive.Origin(uri: "http://deb.debian.org/debian-security", keyring: keyring),
            DebianArchive.Origin(uri: "http://deb.debian.org/debian", keyring: keyring),
        ])
    }

    @Test func parseDeb822SkipsDisabledAndSourceOnlyStanzasAndSplitsURIs() {
        let text = """
            Types: deb-src
            URIs: http://deb.debian.org/debian
            Suites: trixie
            Components: main

            Types: deb
            URIs: http://mirror.example.org/debian
            Suites: trixie
            Components: main
            Enabled: no

            types: deb
            uris: http://one.example.org/debian http://two.example.org/debian
            suites: sid
            components: main
            """
        let origins = DebianArchive.parseDeb822(text)
        #expect(origins == [
            DebianArchive.Origin(uri: "http://one.example.org/debian", keyring: nil),
            DebianArchive.Origin(uri: "http://two.example.org/debian", keyring: nil),
        ])
    }

    // MARK: - one-line sources.list

    @Test func parseOneLineStyleWithSignedBy() {
        let text = """
            # deb http://commented.example.org/debian trixie main
            deb-src http://deb.debian.org/debian trixie main
            deb [signed-by=\(keyring)] http://deb.debian.org/debian trixie main contrib
            deb http://deb.debian.org/debian-security trixie-security main
            """
        let origins = DebianArchive.parseOneLineStyle(text)
        #expect(origins == [
            DebianArchive.Origin(uri: "http://deb.debian.org/debian", keyring: keyring),
            DebianArchive.Origin(uri: "http://deb.debian.org/debian-security", keyring: nil),
        ])
    }

    @Test func parseOneLineStyleWithSeveralOptions() {
        let text = """
            deb [arch=amd64 signed-by=\(keyring)] http://deb.debian.org/debian trixie main
            deb [ signed-by=/etc/apt/keyrings/other.gpg arch=amd64 ] http://other.example.org/debian sid main
            deb\t[trusted=yes]\thttp://local.example.org/debian\tsid\tmain
            """
        let origins = DebianArchive.parseOneLineStyle(text)
        #expect(origins == [
            DebianArchive.Origin(uri: "http://deb.debian.org/debian", keyring: keyring),
            DebianArchive.Origin(uri: "http://other.example.org/debian", keyring: "/etc/apt/keyrings/other.gpg"),
            DebianArchive.Origin(uri: "http://local.example.org/debian", keyring: nil),
        ])
    }

    // MARK: - The configured archive

    @Test func configuredOriginPicksTheNonSecurityArchiveFromSources() throws {
        let apt = try AptRoot()
        defer { apt.remove() }
        try apt.write("sources.list", "# See sources.list.d/debian.sources\n")
        try apt.write("sources.list.d/debian.sources", deb822Text)
        let origin = try DebianArchive.configuredOrigin(aptRoot: apt.root)
        #expect(origin == DebianArchive.Origin(uri: "http://deb.debian.org/debian", keyring: keyring))
    }

    @Test func configuredOriginReadsTheOneLineSourcesList() throws {
        let apt = try AptRoot()
        defer { apt.remove() }
        try apt.write("sources.list", """
            deb http://security.debian.org/debian-security bookworm-security main
            deb [signed-by=/etc/apt/keyrings/mirror.gpg] http://mirror.example.org/debian bookworm main
            """)
        let origin = try DebianArchive.configuredOrigin(aptRoot: apt.root)
        #expect(origin.uri == "http://mirror.example.org/debian")
        #expect(origin.keyring == "/etc/apt/keyrings/mirror.gpg")
    }

    @Test func configuredOriginReadsListFilesInSourcesListD() throws {
        let apt = try AptRoot()
        defer { apt.remove() }
        try apt.write("sources.list.d/a-security.list", "deb http://deb.debian.org/debian-security trixie-security main\n")
        try apt.write("sources.list.d/b-main.list", "deb http://deb.debian.org/debian trixie main\n")
        try apt.write("sources.list.d/c-ignored.txt", "deb http://wrong.example.org/debian trixie main\n")
        let origin = try DebianArchive.configuredOrigin(aptRoot: apt.root)
        #expect(origin == DebianArchive.Origin(uri: "http://deb.debian.org/debian", keyring: nil))
    }

    @Test func nothingConfiguredThrows() throws {
        let apt = try AptRoot()
        defer { apt.remove() }
        try apt.write("sources.list", "# nothing here\n")
        try apt.write("sources.list.d/security.sources", """
            Types: deb
            URIs: http://deb.debian.org/debian-security
            Suites: trixie-security
            Components: main
            """)
        let error = try #require(throws: HarnessError.self) { try DebianArchive.configuredOrigin(aptRoot: apt.root) }
        #expect(error.code == .notFound)
        #expect(error.message.contains(apt.root.path))
    }

    @Test func missingAptFolderThrows() {
        let nowhere = URL(fileURLWithPath: "/nonexistent-handover-apt-\(UUID().uuidString)")
        #expect(throws: HarnessError.self) { try DebianArchive.configuredOrigin(aptRoot: nowhere) }
    }

    // MARK: - Version globs

    struct VersionCase: Sendable, CustomTestStringConvertible {
        var version: String
        var pattern: String
        var matches: Bool
        var testDescription: String { "\(version) ~ \(pattern) = \(matches)" }
    }

    @Test(arguments: [
        VersionCase(version: "7.3.4-1~bpo13+1", pattern: "7.3.*", matches: true),
        VersionCase(version: "7.2.13-1", pattern: "7.3.*", matches: false),
        VersionCase(version: "7.3.4-1~bpo13+1", pattern: "*", matches: true),
        VersionCase(version: "6.12.107-1", pattern: "6.12.*", matches: true),
        VersionCase(version: "6.12.107-1", pattern: "6.1.*", matches: false),
        VersionCase(version: "6.1.140-1", pattern: "6.12.*", matches: false),
        VersionCase(version: "7.3.4-1~bpo13+1", pattern: "7.3.4", matches: true),
        VersionCase(version: "7.3.4-1~bpo13+1", pattern: "7.3.4-1~bpo13+1", matches: true),
        VersionCase(version: "7.3.4-1~bpo13+1", pattern: "7.3.5", matches: false),
    ])
    func versionMatches(_ example: VersionCase) {
        #expect(DebianArchive.version(example.version, matches: example.pattern) == example.matches)
    }
}
