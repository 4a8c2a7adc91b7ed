import Foundation
import Testing

/// The command line's generated shell completions, and the nightly CI recipes in ci-examples/.
/// They need the built executable and the project's virtual environment (.venv, made by
/// scripts/setup.sh), not kernels, so they sit outside the serialized end-to-end suite.
@Suite("Tooling: shell completion and CI recipes", .enabled(if: E2E.required || E2E.executable != nil))
struct ToolingTests {
    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = E2E.packageRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Every subcommand path ("image build", "matrix", ...), from the parser's own description
    /// of the command tree, so a new subcommand is checked without touching this test.
    static func subcommands() throws -> [[String]] {
        let output = try E2E.run(["--experimental-dump-help"])
        #expect(output.status == 0, "\(output.stderr)")
        let root = try E2E.json(output.stdout)
        var paths: [[String]] = []
        func walk(_ command: [String: Any], _ path: [String]) {
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                guard let name = sub["commandName"] as? String, name != "help" else { continue }
                paths.append(path + [name])
                walk(sub, path + [name])
            }
        }
        walk(root["command"] as? [String: Any] ?? [:], [])
        return paths
    }

    @Test("the bash completion script parses and names every subcommand")
    func bashCompletion() throws {
        let subcommands = try Self.subcommands()
        #expect(subcommands.contains(["image", "build"]) && subcommands.contains(["report"]) && subcommands.count >= 10, "\(subcommands)")
        let generated = try E2E.run(["--generate-completion-script", "bash"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("handover.bash")
        try generated.stdout.write(to: script, atomically: true, encoding: .utf8)
        let bash = try #require(Self.tool("bash"))
        let (parsed, log) = try Self.run(bash, ["-n", script.path])
        #expect(parsed == 0, "bash -n: \(log)")
        for path in subcommands {
            #expect(generated.stdout.contains(path.last!), "the bash completion does not name \(path.joined(separator: " "))")
        }
        // It completes for real: sourcing it registers the function, and asking it to complete
        // "handover ima" offers "image".
        let probe = """
            source '\(script.path)'
            complete -p handover >/dev/null || exit 3
            COMP_WORDS=(handover ima); COMP_CWORD=1; COMP_LINE='handover ima'; COMP_POINT=${#COMP_LINE}
            $(complete -p handover | sed -E 's/.*-F ([^ ]+).*/\\1/') handover ima handover
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        let (completed, offered) = try Self.run(bash, ["-c", probe])
        #expect(completed == 0, "completion failed: \(offered)")
        #expect(offered.split(separator: "\n").contains("image"), "completing 'handover ima' offered: \(offered)")
    }

    @Test("the zsh and fish completion scripts name every subcommand (and parse, where the shell is installed)")
    func zshAndFishCompletion() throws {
        let subcommands = try Self.subcommands()
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for (shell, check) in [("zsh", ["-n"]), ("fish", ["--no-execute"])] {
            let generated = try E2E.run(["--generate-completion-script", shell])
            #expect(generated.status == 0, "\(generated.stderr)")
            for path in subcommands {
                #expect(generated.stdout.contains(path.last!), "the \(shell) completion does not name \(path.joined(separator: " "))")
            }
            guard let binary = Self.tool(shell) else { continue }
            let script = folder.appendingPathComponent("handover.\(shell)")
            try generated.stdout.write(to: script, atomically: true, encoding: .utf8)
            let (parsed, log) = try Self.run(binary, check + [script.path])
            #expect(parsed == 0, "\(shell) \(check.joined(separator: " ")): \(log)")
        }
    }

    // MARK: CI recipes

    static let checkJSONSchema = E2E.packageRoot.appendingPathComponent(".venv/bin/check-jsonschema").path
    static let github = "ci-examples/github-actions/handover-nightly.yml"
    static let gitlab = "ci-examples/gitlab-ci/handover-nightly.gitlab-ci.yml"

    static func lint(_ file: String, schema: String, transform: String? = nil) throws -> (status: Int32, output: String) {
        guard FileManager.default.isExecutableFile(atPath: checkJSONSchema) else {
            throw E2E.PrerequisiteMissing(what: "\(checkJSONSchema) (run scripts/setup.sh)")
        }
        // Vendored schemas only: this must work without the network.
        return try run(checkJSONSchema, ["--builtin-schema", schema] + (transform.map { ["--data-transform", $0] } ?? []) + [file])
    }

    @Test("the example GitHub workflow and GitLab job pass their schemas")
    func ciRecipesLint() throws {
        for schema in ["vendor.github-workflows", "custom.github-workflows-require-timeout"] {
            let (status, output) = try Self.lint(Self.github, schema: schema)
            #expect(status == 0, "\(Self.github) against \(schema): \(output)")
        }
        let (status, output) = try Self.lint(Self.gitlab, schema: "vendor.gitlab-ci", transform: "gitlab-ci")
        #expect(status == 0, "\(Self.gitlab): \(output)")
    }

    @Test("the recipes run the nightly matrix, keep the history, publish every report and fail on a regression")
    func ciRecipesDoWhatTheReadmeSays() throws {
        for file in [Self.github, Self.gitlab] {
            let text = try String(contentsOf: E2E.packageRoot.appendingPathComponent(file), encoding: .utf8)
            #expect(text.contains("handover matrix Matrices/nightly.yaml"), "\(file)")
            #expect(text.contains("--history") && text.contains(".handover-history"), "\(file) keeps no history")
            #expect(text.contains("--kcidb"), "\(file)")
            #expect(text.contains("junit.xml") && text.contains("results/nightly"), "\(file)")
            #expect(text.contains("scripts/kcidb-validate.py"), "\(file)")
            #expect(text.contains("status"), "\(file) does not keep the matrix's exit status")
        }
    }

    @Test("the linter catches a broken workflow", arguments: [
        ("github", "runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04"),
        ("github", "timeout-minutes: 360", "timeout-minutes: soon"),
        ("gitlab", "when: always\n  script:", "when: sometimes\n  script:"),
        ("gitlab", "expire_in: 30 days", "expire_in: [30, days]"),
    ])
    func brokenRecipesFail(_ which: String, _ original: String, _ broken: String) throws {
        let file = which == "github" ? Self.github : Self.gitlab
        let text = try String(contentsOf: E2E.packageRoot.appendingPathComponent(file), encoding: .utf8)
        #expect(text.contains(original), "the mutation no longer applies to \(file)")
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let copy = folder.appendingPathComponent(URL(fileURLWithPath: file).lastPathComponent)
        try text.replacingOccurrences(of: original, with: broken).write(to: copy, atomically: true, encoding: .utf8)
        let (status, output) = which == "github"
            ? try Self.lint(copy.path, schema: "vendor.github-workflows")
            : try Self.lint(copy.path, schema: "vendor.gitlab-ci", transform: "gitlab-ci")
        #expect(status != 0, "\(broken) passed the schema: \(output)")
    }

    @Test("docs/cli.md lists every command and option the parsers define, and nothing else")
    func cliReferenceMatchesTheParsers() throws {
        let executable = try #require(E2E.executable)
        let (status, output) = try Self.run("/usr/bin/python3", ["scripts/cli-reference.py", "--check", "--handover", executable.path])
        #expect(status == 0, "\(output)")
    }

    @Test("docs/cli.md names every environment variable the sources read")
    func environmentVariablesAreDocumented() throws {
        let doc = try String(contentsOf: E2E.packageRoot.appendingPathComponent("docs/cli.md"), encoding: .utf8)
        let (status, output) = try Self.run("/usr/bin/grep", ["-rhoE", #"environment\["[A-Z_]+"\]|getenv\("[A-Z_]+"\)"#, "Sources", "Agent"])
        #expect(status == 0, "\(output)")
        let generic: Set = ["HOME", "PATH"]
        let names = Set(output.split(separator: "\n").compactMap { line in line.split(separator: "\"").dropFirst().first.map(String.init) })
        #expect(names.count > 5, "the search found too few variables: \(names)")
        for name in names.subtracting(generic).sorted() {
            #expect(doc.contains("`\(name)`"), "docs/cli.md does not document \(name)")
        }
    }

    @Test("doctor checks this host line by line, and names the fix when libvirt-qemu cannot open /dev/kvm")
    func doctor() throws {
        let output = try E2E.run(["doctor", "--json"], timeout: 120)
        #expect([0, 1].contains(output.status), "\(output.stderr)")
        let checks = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]])
        let names = checks.compactMap { $0["name"] as? String }
        for expected in ["swift", "kernel build tools", "QEMU (x86_64)", "free disk", "Python environment"] {
            #expect(names.contains(expected), "doctor did not check \(expected): \(names)")
        }
        #expect(output.status == (checks.contains { $0["status"] as? String == "problem" } ? 1 : 0))

        // Only where the test may change /dev/kvm's group and mode and put them back.
        guard getuid() == 0, getpwnam("libvirt-qemu") != nil, FileManager.default.fileExists(atPath: "/dev/kvm") else { return }
        var info = stat()
        guard stat("/dev/kvm", &info) == 0 else { return }
        defer {
            _ = chown("/dev/kvm", info.st_uid, info.st_gid)
            _ = chmod("/dev/kvm", info.st_mode & 0o7777)
        }
        #expect(chown("/dev/kvm", 0, 0) == 0 && chmod("/dev/kvm", 0o600) == 0)
        let broken = try E2E.run(["doctor"], timeout: 120)
        #expect(broken.status == 1, "\(broken.stdout)")
        #expect(broken.stdout.contains("PROBLEM libvirt's access to /dev/kvm"), "\(broken.stdout)")
        #expect(broken.stdout.contains("chmod 660 /dev/kvm"), "\(broken.stdout)")
    }
}
