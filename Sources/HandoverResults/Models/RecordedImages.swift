import Foundation
import HandoverSupport
import HandoverImages

/// The kernel images a matrix ran, copied into its results folder (`images/`), so the folder
/// alone says what was built and how (the KCIDB report's checkouts and builds come from here),
/// even after the cache has moved on:
///
/// - `images/NAME.json`: the image's image.json;
/// - `images/NAME.config`: the final .config it was built with;
/// - `images/NAME.build.log`: its build log, when the cache has one;
/// - `images/NAME.patches/NN-FILE`: the recipe's patches, in order, when the files still match
///   the sha256 recorded at build time.
public enum RecordedImages {
    public static let folderName = "images"

    /// Build logs above this size are linked from the cache only by path, not copied.
    static let largestLog = 8 << 20

    public static func write(_ images: [KernelImage], to results: URL) throws {
        let folder = results.appendingPathComponent(folderName)
        let fm = FileManager.default
        for var image in images {
            guard let source = image.folder else { continue }
            let config = source.appendingPathComponent("config")
            if let data = try? Data(contentsOf: config) {
                try AtomicFile.write(data, to: folder.appendingPathComponent("\(image.recipe).config"))
                // Images built before the digest was recorded: the digest of the very file.
                if image.configSHA256 == nil { image.configSHA256 = Digest.sha256(data) }
            }
            // Likewise the architecture: handover builds with ARCH=x86_64 and boots only x86
            // bzImages (the boot header is checked), so an older image.json's is known too.
            if image.architecture == nil { image.architecture = "x86_64" }
            let log = source.appendingPathComponent("build.log")
            if let size = (try? fm.attributesOfItem(atPath: log.path))?[.size] as? Int, size <= largestLog,
               let data = try? Data(contentsOf: log) {
                try AtomicFile.write(data, to: folder.appendingPathComponent("\(image.recipe).build.log"))
            }
            for (index, patch) in (image.patches ?? []).enumerated() {
                let file = URL(fileURLWithPath: patch.file)
                guard let data = try? Data(contentsOf: file), Digest.sha256(data) == patch.sha256 else { continue }
                let name = String(format: "%02d-", index + 1) + file.lastPathComponent
                try AtomicFile.write(data, to: folder.appendingPathComponent("\(image.recipe).patches/\(name)"))
            }
            try AtomicFile.writeJSON(image, to: folder.appendingPathComponent("\(image.recipe).json"))
        }
    }

    /// The recorded images by recipe name; empty for a results folder from before they were
    /// recorded.
    public static func load(from results: URL) -> [String: KernelImage] {
        let folder = results.appendingPathComponent(folderName)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
        var images: [String: KernelImage] = [:]
        for name in names {
            if let image = try? JSONCoding.decode(KernelImage.self, from: folder.appendingPathComponent(name)) {
                images[image.recipe] = image
            }
        }
        return images
    }

    /// Files recorded beside an image, relative to the results folder, when present.
    public static func config(of recipe: String, in results: URL) -> String? { existing("\(recipe).config", in: results) }
    public static func buildLog(of recipe: String, in results: URL) -> String? { existing("\(recipe).build.log", in: results) }
    public static func patches(of recipe: String, in results: URL) -> [String] {
        let folder = results.appendingPathComponent(folderName).appendingPathComponent("\(recipe).patches")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return names.map { "\(folderName)/\(recipe).patches/\($0)" }
    }

    static func existing(_ name: String, in results: URL) -> String? {
        let relative = "\(folderName)/\(name)"
        return FileManager.default.fileExists(atPath: results.appendingPathComponent(relative).path) ? relative : nil
    }
}
