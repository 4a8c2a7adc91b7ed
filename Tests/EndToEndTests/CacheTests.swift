import Foundation
import Testing

extension EndToEnd {
/// The image cache under concurrency and corruption, with a cheap recipe: a prebuilt image made
/// from the cached linux-7.3's bzImage and config, in a private cache.
@Suite("Image cache")
struct CacheTests {
    struct Setup {
        var cache: URL
        var recipe: URL
        var environment: [String: String]
        func cleanup() { try? FileManager.default.removeItem(at: cache) }
    }

    func setup() throws -> Setup {
        try E2E.requirePrerequisites(images: ["linux-7.3"])
        // The source files: the cached linux-7.3's, whose folder image show names.
        let folder = try #require(E2E.run(["image", "show", "linux-7.3"]).stdout.split(separator: "\n")
            .first { $0.hasPrefix("files:") }.map { $0.dropFirst("files:".count).trimmingCharacters(in: .whitespaces) })
        let cache = E2E.temporaryFolder()
        let recipe = cache.appendingPathComponent("recipes/e2e-prebuilt.yaml")
        try FileManager.default.createDirectory(at: recipe.deletingLastPathComponent(), withIntermediateDirectories: true)
        try """
        description: linux-7.3's bzImage as a prebuilt image, for the cache tests.
        source:
          prebuilt: {bzImage: \(folder)/bzImage, config: \(folder)/config}
        """.write(to: recipe, atomically: true, encoding: .utf8)
        return Setup(cache: cache, recipe: recipe, environment: ["HANDOVER_CACHE": cache.appendingPathComponent("cache").path])
    }

    func build(_ setup: Setup, _ extra: [String] = []) throws -> E2E.Output {
        try E2E.run(["image", "build", setup.recipe.path] + extra, environment: setup.environment)
    }

    func cachedFolder(_ setup: Setup) throws -> URL {
        let show = try E2E.run(["image", "show", setup.recipe.path, "--json"], environment: setup.environment)
        #expect(show.status == 0, "image show by recipe path: \(show.stderr)")
        let key = try #require(try E2E.json(show.stdout)["key"] as? String)
        return URL(fileURLWithPath: setup.environment["HANDOVER_CACHE"]!).appendingPathComponent("images/\(key)")
    }

    @Test("a recipe path works for image show and image diff once built")
    func recipePaths() throws {
        let setup = try setup()
        defer { setup.cleanup() }
        let first = try build(setup)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try build(setup).stdout.contains("cached"))
        #expect(try E2E.run(["image", "show", setup.recipe.path], environment: setup.environment).status == 0)
        let diff = try E2E.run(["image", "diff", setup.recipe.path, setup.recipe.path], environment: setup.environment)
        #expect(diff.status == 0, "\(diff.stderr)")
        let list = try E2E.run(["image", "list"], environment: setup.environment)
        #expect(list.stdout.contains("e2e-prebuilt "), "image list cut the name: \(list.stdout)")
    }

    @Test("a build waits for another handover building the same image, says so, and both succeed")
    func concurrentBuilds() throws {
        let setup = try setup()
        defer { setup.cleanup() }
        #expect(try build(setup).status == 0)
        let folder = try cachedFolder(setup)
        let lock = folder.deletingLastPathComponent().appendingPathComponent(".lock-\(folder.lastPathComponent)")
        // Another "handover" holds the entry for 3 s.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [lock.path, "-c", "sleep 3"]
        try holder.run()
        usleep(300_000)
        let started = Date()
        let waited = try build(setup, ["--force"])
        holder.waitUntilExit()
        #expect(waited.status == 0, "\(waited.stderr)")
        #expect(waited.stderr.contains("another handover is building this image"), "\(waited.stderr)")
        #expect(Date().timeIntervalSince(started) > 2)
        // Two at once: both succeed, one image.
        let a = try E2E.start(["image", "build", "--force", setup.recipe.path], environment: setup.environment)
        let b = try E2E.start(["image", "build", "--force", setup.recipe.path], environment: setup.environment)
        let (outA, outB) = (a.finish(), b.finish())
        #expect(outA.status == 0 && outB.status == 0, "\(outA.stderr) \(outB.stderr)")
        #expect(try E2E.run(["image", "show", setup.recipe.path], environment: setup.environment).status == 0)
    }

    @Test("a truncated or altered cached bzImage is never booted: reported, then rebuilt")
    func corruptedImage() throws {
        let setup = try setup()
        defer { setup.cleanup() }
        #expect(try build(setup).status == 0)
        let folder = try cachedFolder(setup)
        let bzImage = folder.appendingPathComponent("bzImage")
        let handle = try FileHandle(forWritingTo: bzImage)
        try handle.truncate(atOffset: 4096)
        try handle.close()
        let boot = try E2E.run(["boot", folder.lastPathComponent, "--accel", "tcg"], environment: setup.environment)
        #expect(boot.status == 2)
        #expect(boot.stderr.contains(bzImage.path), "\(boot.stderr)")
        let show = try E2E.run(["image", "show", setup.recipe.path], environment: setup.environment)
        #expect(show.status == 2)
        #expect(show.stderr.contains("truncated or altered"), "\(show.stderr)")
        let rebuilt = try build(setup)
        #expect(rebuilt.status == 0)
        #expect(rebuilt.stderr.contains("rebuilding"), "\(rebuilt.stderr)")
        #expect(try E2E.run(["image", "show", setup.recipe.path], environment: setup.environment).status == 0)
    }

    @Test("a corrupt image.json is an error naming the file")
    func corruptRecord() throws {
        let setup = try setup()
        defer { setup.cleanup() }
        #expect(try build(setup).status == 0)
        let folder = try cachedFolder(setup)
        let record = folder.appendingPathComponent("image.json")
        try Data("{\"recipe\": 12".utf8).write(to: record)
        let show = try E2E.run(["image", "show", folder.lastPathComponent], environment: setup.environment)
        #expect(show.status == 2)
        #expect(show.stderr.contains(record.path), "\(show.stderr)")
    }
}
}
