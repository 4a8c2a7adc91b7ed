import HandoverResults

/// What becomes of a matrix's summary while it runs and when it ends: the `matrix` command
/// writes the reports after every run and, at the end, judges regressions against the history
/// and records the matrix there. The runner knows neither reports nor history.
public protocol MatrixSummarySink: Sendable {
    /// After each finished run, with what the folder holds so far.
    func update(_ summary: MatrixSummary) async
    /// Once every run has ended; returns the summary as finally judged.
    func finish(_ summary: MatrixSummary) async throws -> MatrixSummary
}
