/// A failure of the harness or the host (not of a kernel under test): a tool that failed,
/// a file that could not be written, a timeout waiting on infrastructure.
public struct HarnessError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable, Codable {
        case toolFailed = "tool-failed"
        case notFound = "not-found"
        case io
        case timeout
        case protocolError = "protocol"
        case buildFailed = "build-failed"
        case configRejected = "config-rejected"
        case interrupted
    }

    public var code: Code
    public var message: String
    /// The last lines of a log that explains the failure (build output, console).
    public var tail: [String]

    public init(_ code: Code, _ message: String, tail: [String] = []) {
        self.code = code
        self.message = message
        self.tail = tail
    }

    public var description: String {
        guard !tail.isEmpty else { return message }
        return message + "\n" + tail.map { "  | \($0)" }.joined(separator: "\n")
    }
}
