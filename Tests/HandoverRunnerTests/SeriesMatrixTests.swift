import Foundation
import Testing
@testable import HandoverMatrix

private let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite("The nightly matrix and the series kernels")
struct SeriesMatrixTests {
    @Test func nightlyRunsTheSeriesPairsNotEveryDirection() throws {
        let matrix = try MatrixFile.load(from: repository.appendingPathComponent("Matrices/nightly.yaml"))
        #expect(matrix.images.contains("linux-7.3-gmem") && matrix.images.contains("linux-7.3-vfio"))
        guard case .explicit(let pairs) = matrix.pairs else {
            Issue.record("nightly lists its pairs")
            return
        }
        for pair in [["linux-7.3-gmem", "linux-7.3-gmem"], ["linux-7.3", "linux-7.3-gmem"], ["linux-7.3-gmem", "linux-7.3"],
                     ["linux-7.3-vfio", "linux-7.3-vfio"]] {
            #expect(pairs.contains(pair), "\(pair)")
        }
        // The three mainline kernels still meet in every direction.
        let mainline = ["linux-7.2", "linux-7.3", "linux-6.12"]
        for a in mainline { for b in mainline { #expect(pairs.contains([a, b]), "\(a) -> \(b)") } }
        #expect(pairs.count == 13)
        #expect(matrix.scenarios.contains("vm-guest-memfd"))
    }
}
