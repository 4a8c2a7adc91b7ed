import Foundation

/// Where handover keeps what outlives a run: the XDG cache (images, downloads, apt state).
public struct CachePaths: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// $HANDOVER_CACHE, else $XDG_CACHE_HOME/handover, else ~/.cache/handover.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> CachePaths {
        if let explicit = environment["HANDOVER_CACHE"], !explicit.isEmpty {
            return CachePaths(root: URL(fileURLWithPath: explicit))
        }
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return CachePaths(root: URL(fileURLWithPath: xdg).appendingPathComponent("handover"))
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return CachePaths(root: URL(fileURLWithPath: home).appendingPathComponent(".cache/handover"))
    }

    public var images: URL { root.appendingPathComponent("images") }
    public var downloads: URL { root.appendingPathComponent("downloads") }
    public var sources: URL { root.appendingPathComponent("sources") }
    public var apt: URL { root.appendingPathComponent("apt") }
    public var builds: URL { root.appendingPathComponent("builds") }
    public var recipeIndex: URL { images.appendingPathComponent("by-recipe") }
}

extension FileManager {
    package func isDirectory(_ url: URL) -> Bool {
        var isDir: ObjCBool = false
        return fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue
    }

    package func createPrivateDirectory(_ url: URL) throws {
        try createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try setAttributes([.posixPermissions: 0o700], ofItemAtPath: url.path)
    }
}
