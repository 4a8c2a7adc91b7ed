import Foundation
import GRDB
import HandoverCore
import HandoverSupport
import HandoverImages
import HandoverResults

/// One matrix run as the history lists it.
public struct MatrixRunInfo: Codable, Sendable, Equatable {
    /// The label the run was recorded under (unique in the history).
    public var id: String
    public var name: String
    public var matrixFile: String
    public var startedAt: Date
    public var finishedAt: Date
    public var accelerator: String
    public var host: String
    public var exitCode: Int32
    public var handoverVersion: String
    public var regressionThreshold: Double
    public var baseline: String?
    public var missingRuns: [String]
    public var cellCount: Int
    /// Verdict raw value → number of cells with that verdict.
    public var verdictCounts: [String: Int]
}

/// One cell of a recorded matrix run: the summary's own cell (`MatrixCell`), with the matrix run
/// it belongs to. Its fields read through to the cell (`stored.verdict` is `stored.cell.verdict`).
@dynamicMemberLookup
public struct StoredCell: Codable, Sendable, Equatable {
    public var matrixRunId: String
    public var matrixName: String
    public var matrixStartedAt: Date
    public var accelerator: String
    /// The cell as the summary had it: recorded as-is since schema v2, rebuilt from the columns
    /// for cells recorded before.
    public var cell: MatrixCell

    public init(cell: MatrixCell, matrixRunId: String, matrixName: String, startedAt: Date, accelerator: String) {
        self.cell = cell
        self.matrixRunId = matrixRunId
        self.matrixName = matrixName
        self.matrixStartedAt = startedAt
        self.accelerator = accelerator
    }

    public subscript<T>(dynamicMember keyPath: KeyPath<MatrixCell, T>) -> T { cell[keyPath: keyPath] }

    public var name: String { "\(cell.scenario): \(cell.chain.joined(separator: " -> "))" }
    /// Seconds, as in the summary.
    public var blackoutMedian: Double? { cell.blackout?.median }
    public var blackoutCount: Int { cell.blackout?.count ?? 0 }
}

/// A recorded matrix run with all its cells.
public struct StoredMatrix: Codable, Sendable, Equatable {
    public var info: MatrixRunInfo
    public var cells: [StoredCell]
    /// The summary as recorded, without its cells (schema v2); nil for runs recorded before.
    public var header: MatrixSummary? = nil

    /// The summary rebuilt from what is stored: everything summary.json has, with the cells and
    /// their runs in their original order. For a run recorded with schema v2 it equals the
    /// summary.json written at the time.
    public var summary: MatrixSummary {
        if var header {
            header.cells = cells.map(\.cell)
            return header
        }
        var summary = MatrixSummary(
            name: info.name, matrixFile: info.matrixFile, startedAt: info.startedAt, finishedAt: info.finishedAt,
            accelerator: info.accelerator, host: info.host, handoverVersion: info.handoverVersion,
            regressionThreshold: info.regressionThreshold, baseline: info.baseline, cells: cells.map(\.cell),
            missingRuns: info.missingRuns)
        summary.disagreements = MatrixSummaryBuilder.disagreements(summary.cells)
        return summary
    }
}

/// The run history: every recorded matrix run, its cells and their repeats, in SQLite.
///
/// Schema (migration "v1"):
/// - `matrixRun`: id TEXT PRIMARY KEY (the label it was recorded under), name, matrixFile,
///   startedAt, finishedAt (REAL, seconds since 1970), accelerator, host, exitCode,
///   handoverVersion, regressionThreshold, baseline, missingRuns (JSON), recordedAt.
///   Index on startedAt.
/// - `cell`: (matrixRunId → matrixRun ON DELETE CASCADE, cellKey) PRIMARY KEY, position,
///   scenario, chain ("a -> b"), releases (JSON), direction, verdict, failureClass, reason,
///   evidence, blackoutCount/Min/Median/P95/Max/Mean/CV (seconds), prediction (JSON),
///   regressions (JSON), unsupportedAllowed. Index on (scenario, chain).
/// - `run`: (matrixRunId, cellKey → cell ON DELETE CASCADE, repeatIndex) PRIMARY KEY, position,
///   runId, verdict, failureClass, reason, evidence, blackout, hopBlackouts (JSON), wallSeconds,
///   resultPath, consolePath, consoleTail (JSON).
/// Migration "v2" adds to `run`: phases (JSON, phase → seconds) and contention (JSON, the
/// host's CPU contention over the blackout window).
public final class HistoryStore: Sendable {
    public let path: URL
    package let dbQueue: DatabaseQueue

    /// Opens (creating when missing) the database at `path`: its folder is created 0700 when
    /// missing, the file is kept 0600, and pending migrations run.
    public init(path: URL) throws {
        self.path = path
        let manager = FileManager.default
        let folder = path.deletingLastPathComponent()
        if !manager.isDirectory(folder) {
            do {
                try manager.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw HarnessError(.io, "cannot create \(folder.path) for the run history: \(error.localizedDescription)")
            }
        }
        let descriptor = open(path.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw HarnessError(.io, "cannot open the run history \(path.path): \(String(cString: strerror(errno)))")
        }
        close(descriptor)
        guard chmod(path.path, 0o600) == 0 else {
            throw HarnessError(.io, "cannot make the run history \(path.path) private: \(String(cString: strerror(errno)))")
        }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // A nightly matrix may record while someone reads the history, or another matrix records:
        // SQLite serialises the writers, each waiting up to a minute for the other.
        configuration.busyMode = .timeout(60)
        do {
            dbQueue = try DatabaseQueue(path: path.path, configuration: configuration)
            // The migrator reads which migrations ran before it takes SQLite's write lock, so two
            // stores opening one database at once could both add the same column: take turns.
            let lock = open(path.path + ".migrate-lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            if lock >= 0 { flock(lock, LOCK_EX) }
            defer { if lock >= 0 { flock(lock, LOCK_UN); close(lock) } }
            try Self.migrator().migrate(dbQueue)
        } catch {
            throw HarnessError(.io, "cannot open the run history \(path.path): \(error)")
        }
    }

    /// $HANDOVER_HISTORY, else $XDG_DATA_HOME/handover/history.sqlite, else
    /// ~/.local/share/handover/history.sqlite.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let explicit = environment["HANDOVER_HISTORY"], !explicit.isEmpty {
            return URL(fileURLWithPath: explicit)
        }
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg).appendingPathComponent("handover/history.sqlite")
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".local/share/handover/history.sqlite")
    }

    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "matrixRun") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull()
                t.column("matrixFile", .text).notNull()
                t.column("startedAt", .double).notNull()
                t.column("finishedAt", .double).notNull()
                t.column("accelerator", .text).notNull()
                t.column("host", .text).notNull()
                t.column("exitCode", .integer).notNull()
                t.column("handoverVersion", .text).notNull()
                t.column("regressionThreshold", .double).notNull()
                t.column("baseline", .text)
                t.column("missingRuns", .jsonText).notNull()
                t.column("recordedAt", .double).notNull()
            }
            try db.create(index: "matrixRun_on_startedAt", on: "matrixRun", columns: ["startedAt"])

            try db.create(table: "cell") { t in
                t.column("matrixRunId", .text).notNull().references("matrixRun", onDelete: .cascade)
                t.column("cellKey", .text).notNull()
                t.primaryKey(["matrixRunId", "cellKey"])
                t.column("position", .integer).notNull()
                t.column("scenario", .text).notNull()
                t.column("chain", .text).notNull()
                t.column("releases", .jsonText).notNull()
                t.column("direction", .text).notNull()
                t.column("verdict", .text).notNull()
                t.column("failureClass", .text)
                t.column("reason", .text).notNull()
                t.column("evidence", .text)
                t.column("blackoutCount", .integer).notNull()
                t.column("blackoutMin", .double)
                t.column("blackoutMedian", .double)
                t.column("blackoutP95", .double)
                t.column("blackoutMax", .double)
                t.column("blackoutMean", .double)
                t.column("blackoutCV", .double)
                t.column("prediction", .jsonText)
                t.column("regressions", .jsonText).notNull()
                t.column("unsupportedAllowed", .boolean).notNull()
            }
            try db.create(index: "cell_on_scenario_chain", on: "cell", columns: ["scenario", "chain"])

            try db.create(table: "run") { t in
                t.column("matrixRunId", .text).notNull()
                t.column("cellKey", .text).notNull()
                t.column("repeatIndex", .integer).notNull()
                t.primaryKey(["matrixRunId", "cellKey", "repeatIndex"])
                t.foreignKey(["matrixRunId", "cellKey"], references: "cell", columns: ["matrixRunId", "cellKey"], onDelete: .cascade)
                t.column("position", .integer).notNull()
                t.column("runId", .text).notNull()
                t.column("verdict", .text).notNull()
                t.column("failureClass", .text)
                t.column("reason", .text).notNull()
                t.column("evidence", .text)
                t.column("blackout", .double)
                t.column("hopBlackouts", .jsonText).notNull()
                t.column("wallSeconds", .double).notNull()
                t.column("resultPath", .text).notNull()
                t.column("consolePath", .text)
                t.column("consoleTail", .jsonText).notNull()
            }
        }
        // v2: the summary's own Codable models, so a summary rebuilt from the history is the one
        // written at the time (kind, disagreements and every field included).
        migrator.registerMigration("v2") { db in
            try db.alter(table: "matrixRun") { t in
                t.add(column: "summary", .jsonText)
            }
            try db.alter(table: "cell") { t in
                t.add(column: "kind", .text).notNull().defaults(to: "memfd")
                t.add(column: "model", .jsonText)
            }
        }
        // v3: each run's blackout phases and the host's contention over its blackout.
        migrator.registerMigration("v3") { db in
            try db.alter(table: "run") { t in
                t.add(column: "phases", .jsonText)
                t.add(column: "contention", .jsonText)
            }
        }
        return migrator
    }

    // MARK: Writing

    /// Records a matrix run under `id`; recording an id again replaces what it had, all in one
    /// transaction.
    public func record(_ summary: MatrixSummary, id: String) throws {
        var keys = Set<String>()
        for cell in summary.cells {
            let key = Self.cellKey(scenario: cell.scenario, chain: cell.chain)
            guard keys.insert(key).inserted else {
                throw HarnessError(.io, "cannot record \(id): the summary has cell \(cell.name) twice")
            }
            var repeats = Set<Int>()
            for run in cell.runs where !repeats.insert(run.repeatIndex).inserted {
                throw HarnessError(.io, "cannot record \(id): cell \(cell.name) has repeat \(run.repeatIndex) twice")
            }
        }
        try dbQueue.write { db in
            _ = try MatrixRunRow.deleteOne(db, key: id)
            try (try MatrixRunRow(summary, id: id)).insert(db)
            for (position, cell) in summary.cells.enumerated() {
                let key = Self.cellKey(scenario: cell.scenario, chain: cell.chain)
                try (try CellRow(cell, matrixRunId: id, cellKey: key, position: position)).insert(db)
                for (runPosition, run) in cell.runs.enumerated() {
                    try RunRow(run, matrixRunId: id, cellKey: key, position: runPosition).insert(db)
                }
            }
        }
    }

    /// Removes a recorded run (its cells and runs go with it); false when there was none.
    @discardableResult
    public func delete(id: String) throws -> Bool {
        try dbQueue.write { db in try MatrixRunRow.deleteOne(db, key: id) }
    }

    // MARK: Reading

    /// Recorded matrix runs, newest first; all of them without a limit.
    public func matrixRuns(limit: Int? = nil) throws -> [MatrixRunInfo] {
        try dbQueue.read { db in
            var request = MatrixRunRow.order(Column("startedAt").desc, Column("id").desc)
            if let limit { request = request.limit(max(limit, 0)) }
            let rows = try request.fetchAll(db)
            return try rows.map { try Self.info($0, db) }
        }
    }

    /// A recorded matrix run with its cells, or nil when the id is unknown.
    public func summary(id: String) throws -> StoredMatrix? {
        try dbQueue.read { db in
            guard let row = try MatrixRunRow.fetchOne(db, key: id) else { return nil }
            let cells = try CellRow.filter(Column("matrixRunId") == id).order(Column("position")).fetchAll(db)
            let runs = try RunRow.filter(Column("matrixRunId") == id).order(Column("cellKey"), Column("position")).fetchAll(db)
            let runsByCell = Dictionary(grouping: runs, by: \.cellKey)
            return StoredMatrix(
                info: try Self.info(row, db),
                cells: try cells.map { try Self.storedCell($0, of: row, runs: runsByCell[$0.cellKey] ?? []) },
                header: try row.summary.map { try Self.decodeModel(MatrixSummary.self, $0, in: "\(id) summary") })
        }
    }

    /// The baseline of a cell: the newest cell of a matrix run that started strictly before
    /// `before`, under exactly the same accelerator (blackouts are only comparable under the same
    /// one), with the same scenario and chain, that passed.
    ///
    /// When the cell never passed there, the newest such cell that ended unsupported: a kernel
    /// pair that cannot preserve what the scenario needs stays unsupported, and a later fail or
    /// error of it is still worth flagging. A failed or errored cell is never a baseline: a
    /// failure is no standard to hold a later run to.
    ///
    /// `excluding` leaves out one matrix run (the one being checked, when it is already recorded).
    public func lastGood(
        scenario: String, chain: [String], before: Date, accelerator: String, excluding: String? = nil
    ) throws -> StoredCell? {
        try dbQueue.read { db in
            for verdict in [Verdict.pass, .unsupported] {
                let sql = """
                    SELECT cell.matrixRunId, cell.cellKey FROM cell
                    JOIN matrixRun ON matrixRun.id = cell.matrixRunId
                    WHERE cell.scenario = ? AND cell.chain = ? AND cell.verdict = ?
                      AND matrixRun.accelerator = ? AND matrixRun.startedAt < ?
                      AND (? IS NULL OR matrixRun.id <> ?)
                    ORDER BY matrixRun.startedAt DESC, matrixRun.id DESC
                    LIMIT 1
                    """
                let arguments: StatementArguments = [
                    scenario, Self.chainText(chain), verdict.rawValue, accelerator, before.timeIntervalSince1970,
                    excluding, excluding,
                ]
                guard let found = try Row.fetchOne(db, sql: sql, arguments: arguments) else { continue }
                let runId: String = found["matrixRunId"]
                let key: String = found["cellKey"]
                guard let matrix = try MatrixRunRow.fetchOne(db, key: runId),
                      let cell = try CellRow.fetchOne(db, key: ["matrixRunId": runId, "cellKey": key])
                else { continue }
                let runs = try RunRow
                    .filter(Column("matrixRunId") == runId && Column("cellKey") == key)
                    .order(Column("position")).fetchAll(db)
                return try Self.storedCell(cell, of: matrix, runs: runs)
            }
            return nil
        }
    }

    // MARK: Conversions

    static func cellKey(scenario: String, chain: [String]) -> String {
        "\(scenario)/\(chain.joined(separator: "--"))"
    }

    static func chainText(_ chain: [String]) -> String { chain.joined(separator: " -> ") }

    static func chain(from text: String) -> [String] {
        text.isEmpty ? [] : text.components(separatedBy: " -> ")
    }

    private static func info(_ row: MatrixRunRow, _ db: Database) throws -> MatrixRunInfo {
        let counts = try Row.fetchAll(
            db, sql: "SELECT verdict, COUNT(*) AS n FROM cell WHERE matrixRunId = ? GROUP BY verdict", arguments: [row.id])
        var verdictCounts: [String: Int] = [:]
        for count in counts {
            let verdict: String = count["verdict"]
            let number: Int = count["n"]
            verdictCounts[verdict] = number
        }
        return MatrixRunInfo(
            id: row.id, name: row.name, matrixFile: row.matrixFile, startedAt: row.startedAt, finishedAt: row.finishedAt,
            accelerator: row.accelerator, host: row.host, exitCode: Int32(clamping: row.exitCode),
            handoverVersion: row.handoverVersion, regressionThreshold: row.regressionThreshold, baseline: row.baseline,
            missingRuns: row.missingRuns, cellCount: verdictCounts.values.reduce(0, +), verdictCounts: verdictCounts)
    }

    private static func verdict(_ raw: String, in place: String) throws -> Verdict {
        guard let verdict = Verdict(rawValue: raw) else {
            throw HarnessError(.io, "the run history has an unknown verdict \"\(raw)\" in \(place)")
        }
        return verdict
    }

    private static func failureClass(_ raw: String?, in place: String) throws -> FailureClass? {
        guard let raw else { return nil }
        guard let failureClass = FailureClass(rawValue: raw) else {
            throw HarnessError(.io, "the run history has an unknown failure class \"\(raw)\" in \(place)")
        }
        return failureClass
    }

    private static func storedCell(_ row: CellRow, of matrix: MatrixRunRow, runs: [RunRow]) throws -> StoredCell {
        let place = "\(matrix.id) \(row.cellKey)"
        let cell = try row.model.map { try decodeModel(MatrixCell.self, $0, in: place) } ?? legacyCell(row, runs: runs, in: place)
        return StoredCell(cell: cell, matrixRunId: matrix.id, matrixName: matrix.name, startedAt: matrix.startedAt,
                          accelerator: matrix.accelerator)
    }

    /// A cell recorded before schema v2 (no model column): rebuilt from its columns, as near to
    /// the summary of the time as they allow.
    private static func legacyCell(_ row: CellRow, runs: [RunRow], in place: String) throws -> MatrixCell {
        guard let direction = Direction(rawValue: row.direction) else {
            throw HarnessError(.io, "the run history has an unknown direction \"\(row.direction)\" in \(place)")
        }
        guard let kind = ScenarioKind(rawValue: row.kind) else {
            throw HarnessError(.io, "the run history has an unknown scenario kind \"\(row.kind)\" in \(place)")
        }
        var statistics: Statistics?
        if row.blackoutCount > 0, let median = row.blackoutMedian, var rebuilt = Statistics([median]) {
            rebuilt.count = row.blackoutCount
            rebuilt.min = row.blackoutMin ?? median
            rebuilt.p95 = row.blackoutP95 ?? median
            rebuilt.max = row.blackoutMax ?? median
            rebuilt.mean = row.blackoutMean ?? median
            rebuilt.coefficientOfVariation = row.blackoutCV ?? 0
            statistics = rebuilt
        }
        let chain = chain(from: row.chain)
        return MatrixCell(
            scenario: row.scenario, kind: kind.rawValue, chain: chain, releases: row.releases, direction: direction,
            verdict: try verdict(row.verdict, in: place), failureClass: try failureClass(row.failureClass, in: place),
            reason: row.reason, evidence: row.evidence,
            runs: try runs.map {
                MatrixRunRecord(
                    id: $0.runId, scenario: row.scenario, chain: chain, repeatIndex: $0.repeatIndex,
                    verdict: try verdict($0.verdict, in: $0.runId), failureClass: try failureClass($0.failureClass, in: $0.runId),
                    reason: $0.reason, evidence: $0.evidence, blackout: $0.blackout, hopBlackouts: $0.hopBlackouts,
                    wallSeconds: $0.wallSeconds, resultPath: $0.resultPath, consolePath: $0.consolePath,
                    consoleTail: $0.consoleTail, phases: $0.phases, contention: $0.contention)
            },
            blackout: statistics, prediction: row.prediction, regressions: row.regressions, unsupportedAllowed: row.unsupportedAllowed)
    }

    /// Models are stored as the JSON summary.json has (same encoder, same dates).
    static func encodeModel<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONCoding.encode(value), as: UTF8.self)
    }

    static func decodeModel<T: Decodable>(_ type: T.Type, _ text: String, in place: String) throws -> T {
        do {
            return try JSONCoding.decode(type, from: Data(text.utf8))
        } catch {
            throw HarnessError(.io, "the run history has an unreadable \(T.self) in \(place): \(error)")
        }
    }
}

// MARK: Records

/// Dates are stored as seconds since 1970 (REAL), so they sort and compare numerically.
protocol HistoryRecord: Codable, FetchableRecord, PersistableRecord {}

extension HistoryRecord {
    static func databaseDateEncodingStrategy(for column: String) -> DatabaseDateEncodingStrategy { .timeIntervalSince1970 }
    static func databaseDateDecodingStrategy(for column: String) -> DatabaseDateDecodingStrategy { .timeIntervalSince1970 }
}

struct MatrixRunRow: HistoryRecord, Sendable {
    static let databaseTableName = "matrixRun"

    var id: String
    var name: String
    var matrixFile: String
    var startedAt: Date
    var finishedAt: Date
    var accelerator: String
    var host: String
    var exitCode: Int
    var handoverVersion: String
    var regressionThreshold: Double
    var baseline: String?
    var missingRuns: [String]
    var recordedAt: Date
    /// The MatrixSummary without its cells, as JSON (v2).
    var summary: String?

    init(_ summary: MatrixSummary, id: String) throws {
        self.id = id
        name = summary.name
        matrixFile = summary.matrixFile
        startedAt = summary.startedAt
        finishedAt = summary.finishedAt
        accelerator = summary.accelerator
        host = summary.host
        exitCode = Int(summary.exitCode)
        handoverVersion = summary.handoverVersion
        regressionThreshold = summary.regressionThreshold
        baseline = summary.baseline
        missingRuns = summary.missingRuns
        recordedAt = Date()
        var header = summary
        header.cells = []
        self.summary = try HistoryStore.encodeModel(header)
    }
}

struct CellRow: HistoryRecord, Sendable {
    static let databaseTableName = "cell"

    var matrixRunId: String
    var cellKey: String
    var position: Int
    var scenario: String
    var chain: String
    var releases: [String]
    var direction: String
    var verdict: String
    var failureClass: String?
    var reason: String
    var evidence: String?
    var blackoutCount: Int
    var blackoutMin: Double?
    var blackoutMedian: Double?
    var blackoutP95: Double?
    var blackoutMax: Double?
    var blackoutMean: Double?
    var blackoutCV: Double?
    var prediction: HandoverPrediction?
    var regressions: [Regression]
    var unsupportedAllowed: Bool
    var kind: String
    /// The MatrixCell itself, as JSON (v2).
    var model: String?

    init(_ cell: MatrixCell, matrixRunId: String, cellKey: String, position: Int) throws {
        self.matrixRunId = matrixRunId
        self.cellKey = cellKey
        self.position = position
        scenario = cell.scenario
        chain = HistoryStore.chainText(cell.chain)
        releases = cell.releases
        direction = cell.direction.rawValue
        verdict = cell.verdict.rawValue
        failureClass = cell.failureClass?.rawValue
        reason = cell.reason
        evidence = cell.evidence
        blackoutCount = cell.blackout?.count ?? 0
        blackoutMin = cell.blackout?.min
        blackoutMedian = cell.blackout?.median
        blackoutP95 = cell.blackout?.p95
        blackoutMax = cell.blackout?.max
        blackoutMean = cell.blackout?.mean
        blackoutCV = cell.blackout?.coefficientOfVariation
        prediction = cell.prediction
        regressions = cell.regressions
        unsupportedAllowed = cell.unsupportedAllowed
        kind = cell.kind
        model = try HistoryStore.encodeModel(cell)
    }
}

struct RunRow: HistoryRecord, Sendable {
    static let databaseTableName = "run"

    var matrixRunId: String
    var cellKey: String
    var repeatIndex: Int
    var position: Int
    var runId: String
    var verdict: String
    var failureClass: String?
    var reason: String
    var evidence: String?
    var blackout: Double?
    var hopBlackouts: [Double?]
    var wallSeconds: Double
    var resultPath: String
    var consolePath: String?
    var consoleTail: [String]
    var phases: [String: Double]?
    var contention: HostContention?

    init(_ run: MatrixRunRecord, matrixRunId: String, cellKey: String, position: Int) {
        self.matrixRunId = matrixRunId
        self.cellKey = cellKey
        repeatIndex = run.repeatIndex
        self.position = position
        runId = run.id
        verdict = run.verdict.rawValue
        failureClass = run.failureClass?.rawValue
        reason = run.reason
        evidence = run.evidence
        blackout = run.blackout
        hopBlackouts = run.hopBlackouts
        wallSeconds = run.wallSeconds
        resultPath = run.resultPath
        consolePath = run.consolePath
        consoleTail = run.consoleTail
        phases = run.phases
        contention = run.contention
    }
}
