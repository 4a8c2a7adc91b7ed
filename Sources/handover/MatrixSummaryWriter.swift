import Foundation
import HandoverHistory
import HandoverMatrix
import HandoverReports
import HandoverResults

/// The `matrix` command's sink: rewrites summary.json and the reports after every run; at the
/// end judges regressions against the history, writes the reports once more and records a
/// complete matrix in the history.
struct MatrixSummaryWriter: MatrixSummarySink {
    let folder: URL
    let historyPath: URL?
    let kcidb: KCIDBOptions?
    let threshold: Double
    let sensitivity: Double?
    /// Judge blackouts taken under host contention like the others.
    let judgeDisturbed: Bool

    func update(_ summary: MatrixSummary) async {
        try? MatrixReports.writeAll(summary, to: folder, kcidb: kcidb)
    }

    func finish(_ summary: MatrixSummary) async throws -> MatrixSummary {
        var summary = summary
        if let historyPath {
            let store = try HistoryStore(path: historyPath)
            try RegressionCheck.apply(to: &summary, store: store, threshold: threshold, sensitivity: sensitivity,
                                      judgeDisturbed: judgeDisturbed, excluding: folder.lastPathComponent)
            try MatrixReports.writeAll(summary, to: folder, kcidb: kcidb)
            if summary.missingRuns.isEmpty {
                try store.record(summary, id: folder.lastPathComponent)
            }
        } else {
            try MatrixReports.writeAll(summary, to: folder, kcidb: kcidb)
        }
        return summary
    }
}
