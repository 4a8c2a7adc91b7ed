import Foundation
import Testing

extension EndToEnd {
/// Two matrices at once on one machine: both record into one history database; a third one
/// into a results folder already being written is refused, not interleaved.
@Suite("Concurrent matrices")
struct ConcurrencyTests {
    @Test("two matrices record into one history at once; a second writer of one results folder is refused")
    func twoMatricesOneHistory() throws {
        try E2E.requirePrerequisites(images: ["linux-7.3"])
        let folder = E2E.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let matrix = folder.appendingPathComponent("pair.yaml")
        try """
        name: pair
        images: [linux-7.3]
        scenarios: [memfd-basic]
        pairs: [{from: linux-7.3, to: linux-7.3}]
        accel: tcg
        cpus: 1
        # B runs beside A and takes A as its baseline: TCG blackouts of two VMs at once differ.
        regression-threshold: 1000%
        """.write(to: matrix, atomically: true, encoding: .utf8)
        let history = folder.appendingPathComponent("history.sqlite").path
        let outA = folder.appendingPathComponent("run-a"), outB = folder.appendingPathComponent("run-b")
        let a = try E2E.start(["matrix", matrix.path, "--out", outA.path, "--history", history, "--jobs", "1"])
        let b = try E2E.start(["matrix", matrix.path, "--out", outB.path, "--history", history, "--jobs", "1"])
        // Once A holds its folder, a third matrix into it is refused.
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: outA.appendingPathComponent("plan.json").path) && Date() < deadline { usleep(100_000) }
        let intruder = try E2E.run(["matrix", matrix.path, "--out", outA.path, "--history", history, "--resume"])
        #expect(intruder.status == 2)
        #expect(intruder.stderr.contains("in use by another handover"), "\(intruder.stderr)")
        let (resultA, resultB) = (a.finish(), b.finish())
        #expect(resultA.status == 0, "\(resultA.stderr.suffix(1500))")
        #expect(resultB.status == 0, "\(resultB.stderr.suffix(1500))")
        // Both are in the history: compare finds each by its id (2 would be an unknown id).
        let compare = try E2E.run(["compare", "run-a", "run-b", "--history", history, "--threshold", "10"])
        #expect(compare.status == 0, "\(compare.stdout) \(compare.stderr)")
    }
}
}
