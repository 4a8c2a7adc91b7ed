import Foundation
import HandoverSupport
import HandoverResults

/// Every report of a matrix, written atomically into its results folder.
public enum MatrixReports {
    public static let files = ["summary.json", "junit.xml", "report.ktap", "report.html"]

    /// The report files of a matrix run, with kcidb.json when it writes KCIDB too.
    public static func files(kcidb: KCIDBOptions?) -> [String] { files + (kcidb == nil ? [] : [KCIDBReport.fileName]) }

    public static func writeAll(_ summary: MatrixSummary, to folder: URL, kcidb: KCIDBOptions? = nil) throws {
        try AtomicFile.writeJSON(summary, to: folder.appendingPathComponent("summary.json"))
        try JUnitReport.write(summary, to: folder.appendingPathComponent("junit.xml"))
        try KTAPReport.write(summary, to: folder.appendingPathComponent("report.ktap"))
        try HTMLReport.write(summary, to: folder.appendingPathComponent("report.html"))
        if let kcidb {
            try KCIDBReport.write(summary, folder: folder, options: kcidb, to: folder.appendingPathComponent(KCIDBReport.fileName))
        }
    }
}
