import Foundation

/// Every report of a matrix, written atomically into its results folder.
public enum MatrixReports {
    public static let files = ["summary.json", "junit.xml", "report.ktap", "report.html"]

    public static func writeAll(_ summary: MatrixSummary, to folder: URL) throws {
        try AtomicFile.writeJSON(summary, to: folder.appendingPathComponent("summary.json"))
        try JUnitReport.write(summary, to: folder.appendingPathComponent("junit.xml"))
        try KTAPReport.write(summary, to: folder.appendingPathComponent("report.ktap"))
        try HTMLReport.write(summary, to: folder.appendingPathComponent("report.html"))
    }
}
