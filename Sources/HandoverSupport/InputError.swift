/// A problem with a file the user wrote (recipe, scenario, matrix), found before anything runs.
/// It names the file, the key path inside it and what was expected there.
public struct InputError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var keyPath: String
    public var line: Int?
    public var message: String

    public init(file: String, keyPath: String, line: Int? = nil, message: String) {
        self.file = file
        self.keyPath = keyPath
        self.line = line
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        let key = keyPath.isEmpty ? "" : " \(keyPath):"
        return "\(location):\(key) \(message)"
    }
}
