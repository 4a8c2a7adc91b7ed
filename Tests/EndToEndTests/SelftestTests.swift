import Foundation
import Testing

extension EndToEnd {
@Suite("Upstream live update selftests under handover")
struct SelftestTests {
    @Test("all four two-stage tests and the ioctl suite pass for linux-7.3 -> linux-7.3")
    func selfUpdatePasses() throws {
        try E2E.requirePrerequisites()
        let out = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: out) }
        let output = try E2E.run(["run", "upstream-selftests", "--from", "linux-7.3", "--to", "linux-7.3", "--accel", "tcg",
                                  "--out", out.path, "--json"], timeout: 900)
        let result = try E2E.json(output.stdout)
        #expect(output.status == 0, "\(result["reason"] ?? "") \(output.stderr)")
        #expect(result["verdict"] as? String == "pass")
        let outcomes = try #require(result["selftests"] as? [[String: Any]])
        let names = outcomes.compactMap { $0["test"] as? String }
        for test in ["luo_kexec_simple", "luo_multi_session", "luo_stress_files", "luo_stress_sessions", "liveupdate@linux-7.3"] {
            #expect(names.contains(test), "missing \(test) in \(names)")
        }
        #expect(outcomes.allSatisfy { $0["status"] as? String == "pass" })
        let suite = try #require(outcomes.first { $0["kind"] as? String == "ioctl-suite" })
        let subtests = try #require(suite["subtests"] as? [[String: Any]])
        #expect(subtests.count >= 10, "the ioctl suite's KTAP lines were not parsed")
    }
}
}
