import Foundation
import Testing

extension EndToEnd {
/// Exit codes as the README's table says, argument-parser errors included (2, never 64), and
/// options refused before anything boots.
@Suite("Exit codes")
struct ExitCodeTests {
    func status(_ arguments: [String]) throws -> E2E.Output {
        guard E2E.executable != nil else { throw E2E.PrerequisiteMissing(what: "the handover executable is not built (swift build)") }
        return try E2E.run(arguments, timeout: 60)
    }

    @Test("bad input exits 2 in every subcommand", arguments: [
        ["run", "memfd-basic", "--from", "a"],
        ["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--inject", "flip-byte:nosuch:5"],
        ["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--inject", "crash:3"],
        ["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--nosuch"],
        ["run", "memfd-basic", "--from", "linux-7.3", "--to", "linux-7.3", "--repeat", "0"],
        ["image", "show", "no-such-image"],
        ["image", "diff", "no-such-a", "no-such-b"],
        ["image", "build"],
        ["image", "build", "--plan", "--force", "linux-7.3"],
        ["image", "lock", "no-such-recipe"],
        ["image", "list", "--nosuch"],
        ["doctor", "--images", "/nonexistent-recipes-folder/Images", "--nosuch"],
        ["boot", "no-such-image"],
        ["matrix", "no-such-matrix.yaml"],
        ["matrix", "Matrices/smoke.yaml", "--jobs", "x"],
        ["report", "/nonexistent-results"],
        ["compare", "/nonexistent-a", "/nonexistent-b"],
        ["no-such-command"],
    ])
    func badInput(_ arguments: [String]) throws {
        let output = try status(arguments)
        #expect(output.status == 2, "\(arguments.joined(separator: " ")) exited \(output.status): \(output.stderr)")
    }

    @Test("the selftests refuse an injection before anything is built or booted")
    func selftestInjectionRefused() throws {
        let output = try status(["run", "upstream-selftests", "--from", "linux-7.3", "--to", "linux-7.3", "--inject", "crash:1"])
        #expect(output.status == 2)
        #expect(output.stderr.contains("--inject"), "\(output.stderr)")
        #expect(output.stderr.contains("selftest"), "\(output.stderr)")
        #expect(!output.stdout.contains("PASS"))
    }

    @Test("run --help lists every injection; --help exits 0")
    func helpListsInjections() throws {
        let output = try status(["run", "--help"])
        #expect(output.status == 0)
        let help = output.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for injection in ["flip-byte:OBJECT:OFFSET", "crash:STAGE", "stall:STAGE", "no-init:STAGE", "garbage:STAGE"] {
            #expect(help.contains(injection), "run --help does not list \(injection)")
        }
    }
}
}
