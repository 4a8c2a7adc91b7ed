import Foundation
import HandoverCore
import HandoverImages

/// A matrix expanded into runs, written as plan.json so a resumed matrix and `handover report`
/// know what was meant to run.
public struct MatrixPlan: Codable, Sendable {
    public struct Cell: Codable, Sendable {
        public var scenario: String
        public var kind: String
        public var scenarioFile: String
        public var chain: [String]
        public var releases: [String]
        public var direction: Direction
        public var prediction: HandoverPrediction
        /// The chain's architecture; nil for x86_64, as plans written before had it.
        public var arch: String? = nil

        public var key: String { "\(scenario)/\(chain.joined(separator: "--"))" }
    
        package init(
            scenario: String,
            kind: String,
            scenarioFile: String,
            chain: [String],
            releases: [String],
            direction: Direction,
            prediction: HandoverPrediction,
        arch: String? = nil
    ) {
            self.arch = arch
            self.scenario = scenario
            self.kind = kind
            self.scenarioFile = scenarioFile
            self.chain = chain
            self.releases = releases
            self.direction = direction
            self.prediction = prediction
        }
}

    public struct Run: Codable, Sendable {
        public var id: String
        public var cell: Int
        public var repeatIndex: Int
        /// Relative to the results folder.
        public var folder: String
    

        package init(

            id: String,

            cell: Int,

            repeatIndex: Int,

            folder: String

        ) {

            self.id = id

            self.cell = cell

            self.repeatIndex = repeatIndex

            self.folder = folder

        }
}

    public var name: String
    public var matrixFile: String
    public var createdAt: Date
    public var regressionThreshold: Double
    public var regressionSensitivity: Double?
    public var allowUnsupported: Bool
    public var cells: [Cell]
    public var runs: [Run]


    package init(
        name: String,
        matrixFile: String,
        createdAt: Date,
        regressionThreshold: Double,
        regressionSensitivity: Double? = nil,
        allowUnsupported: Bool,
        cells: [Cell],
        runs: [Run]
    ) {
        self.name = name
        self.matrixFile = matrixFile
        self.createdAt = createdAt
        self.regressionThreshold = regressionThreshold
        self.regressionSensitivity = regressionSensitivity
        self.allowUnsupported = allowUnsupported
        self.cells = cells
        self.runs = runs
    }
}

