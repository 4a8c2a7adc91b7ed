import Foundation
import HandoverCore
import HandoverImages
import HandoverResults
import HandoverRuns

extension MatrixPlan {
    public static func make(matrix: MatrixFile, images: [String: KernelImage], scenarios: [String: Scenario]) -> MatrixPlan {
        var chains: [[String]] = []
        let names = matrix.images
        switch matrix.pairs {
        // The architecture axis: generated pairs stay within one architecture (explicit pairs
        // and chains that mix them are refused before anything is built, see MatrixArchitectures).
        case .all: chains = names.flatMap { a in names.compactMap { b in images[a]!.arch == images[b]!.arch ? [a, b] : nil } }
        case .upgrade, .rollback:
            let wanted: ComparisonResult = matrix.pairs == .upgrade ? .orderedAscending : .orderedDescending
            chains = names.flatMap { a in names.compactMap { b in
                images[a]!.arch == images[b]!.arch &&
                    compareReleases(images[a]!.kernelRelease, images[b]!.kernelRelease) == wanted ? [a, b] : nil
            } }
        case .none: chains = []
        case .explicit(let list): chains = list
        }
        chains += matrix.chains
        var cells: [Cell] = []
        for scenarioName in matrix.scenarios {
            let scenario = scenarios[scenarioName]!
            for chain in chains where !cells.contains(where: { $0.scenario == scenario.name && $0.chain == chain }) {
                let kernels = chain.map { images[$0]! }
                if scenario.kind == .selftest && chain.count != 2 { continue }
                cells.append(Cell(scenario: scenario.name, kind: scenario.kind.rawValue, scenarioFile: scenario.file, chain: chain,
                                  releases: kernels.map(\.kernelRelease), direction: direction(kernels),
                                  prediction: HandoverPrediction(from: kernels[0], to: kernels[1], needs: scenario.handlerNeeds),
                                  arch: kernels[0].arch == .default ? nil : kernels[0].arch.rawValue))
            }
        }
        var runs: [Run] = []
        for (index, cell) in cells.enumerated() {
            for repeatIndex in 1...matrix.repeats {
                let folder = "runs/\(cell.scenario)/\(cell.chain.joined(separator: "--"))/rep-\(repeatIndex)"
                runs.append(Run(id: "\(cell.key)/rep-\(repeatIndex)", cell: index, repeatIndex: repeatIndex, folder: folder))
            }
        }
        return MatrixPlan(name: matrix.name, matrixFile: matrix.file, createdAt: Date(),
                          regressionThreshold: matrix.regressionThreshold, regressionSensitivity: matrix.regressionSensitivity,
                          allowUnsupported: matrix.allowUnsupported,
                          cells: cells, runs: runs)
    }

    static func direction(_ chain: [KernelImage]) -> Direction {
        guard chain.count == 2 else { return .chain }
        switch compareReleases(chain[0].kernelRelease, chain[1].kernelRelease) {
        case .orderedAscending: return .upgrade
        case .orderedDescending: return .rollback
        case .orderedSame: return .same
        }
    }
}
