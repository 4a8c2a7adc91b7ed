import Foundation
import Testing
@testable import HandoverLibvirt
@testable import HandoverSupport
@testable import HandoverImages
@testable import HandoverMachines

/// The system libvirtd on this machine (scripts/libvirt-daemons.sh start). With HANDOVER_E2E=1
/// these tests run and fail when it does not answer; otherwise they run only when it does.
enum SystemLibvirt {
    static let uri = "qemu:///system"
    static var enabled: Bool {
        ProcessInfo.processInfo.environment["HANDOVER_E2E"] == "1" || (try? LibvirtConnection(uri: uri)) != nil
    }

    static func file(_ directory: RunDirectory, _ name: String, bytes: Int, seed: UInt8) throws -> URL {
        let url = directory.file(name)
        let block = Data((0..<4093).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed })
        var data = Data(capacity: bytes)
        while data.count < bytes { data.append(block.prefix(bytes - data.count)) }
        try data.write(to: url)
        return url
    }

    static func poolName(of path: String) -> String { URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent }
}

@Suite("uploads to a libvirt host, once per content", .enabled(if: SystemLibvirt.enabled), .serialized)
struct UploadCacheTests {
    @Test("the same content is uploaded once and shared, other content gets its own volume, close removes pool and folder")
    func sharesByContent() throws {
        let directory = try RunDirectory()
        defer { directory.remove() }
        let kernel = try SystemLibvirt.file(directory, "bzImage", bytes: 300_000, seed: 1)
        let sameBytes = directory.file("bzImage-copy")
        try Data(contentsOf: kernel).write(to: sameBytes)
        let initrd = try SystemLibvirt.file(directory, "initrd.cpio", bytes: 200_000, seed: 2)

        let cache = UploadCache(uri: SystemLibvirt.uri)
        let first = try cache.acquire(kernel)
        #expect(!first.reused)
        #expect(first.bytes == 300_000)
        let second = try cache.acquire(sameBytes)
        #expect(second.reused, "the same content under another name should not be uploaded again")
        #expect(second.path == first.path)
        let other = try cache.acquire(initrd)
        #expect(!other.reused)
        #expect(other.path != first.path)
        // The volumes hold exactly the files' bytes (the libvirt host is this machine).
        #expect(FileManager.default.contents(atPath: first.path) == (try Data(contentsOf: kernel)))
        #expect(FileManager.default.contents(atPath: other.path) == (try Data(contentsOf: initrd)))
        #expect(cache.counts == (volumes: 2, inUse: 2))

        for lease in [first, second, other] { cache.release(lease) }
        #expect(cache.counts == (volumes: 2, inUse: 0), "released volumes stay for later runs")
        let third = try cache.acquire(kernel)
        #expect(third.reused && third.path == first.path)
        cache.release(third)

        let pool = SystemLibvirt.poolName(of: first.path)
        #expect(try LibvirtConnection(uri: SystemLibvirt.uri).activePoolNames().contains(pool))
        cache.close()
        #expect(!(try LibvirtConnection(uri: SystemLibvirt.uri).activePoolNames()).contains(pool))
        #expect(!FileManager.default.fileExists(atPath: URL(fileURLWithPath: first.path).deletingLastPathComponent().path))
        #expect(throws: HarnessError.self) { try cache.acquire(kernel) }
    }

    @Test("unused volumes beyond the limit go, least recently used first; volumes in use stay")
    func evictsLeastRecentlyUsed() throws {
        let directory = try RunDirectory()
        defer { directory.remove() }
        let a = try SystemLibvirt.file(directory, "a", bytes: 100_000, seed: 3)
        let b = try SystemLibvirt.file(directory, "b", bytes: 100_000, seed: 4)
        let c = try SystemLibvirt.file(directory, "c", bytes: 100_000, seed: 5)
        let cache = UploadCache(uri: SystemLibvirt.uri, keepBytes: 150_000)
        defer { cache.close() }

        let leaseA = try cache.acquire(a)
        let leaseB = try cache.acquire(b)
        let leaseC = try cache.acquire(c)
        cache.release(leaseA)
        #expect(FileManager.default.fileExists(atPath: leaseA.path), "100 kB unused is within the limit")
        cache.release(leaseB)
        #expect(!FileManager.default.fileExists(atPath: leaseA.path), "a was used least recently and goes")
        #expect(FileManager.default.fileExists(atPath: leaseB.path))
        #expect(FileManager.default.fileExists(atPath: leaseC.path), "c is in use")
        #expect(cache.counts == (volumes: 2, inUse: 1))
        let again = try cache.acquire(a)
        #expect(!again.reused, "an evicted file is uploaded again")
        cache.release(again)
        cache.release(leaseC)
    }

    @Test("runs asking for the same content at once share one upload")
    func concurrentAcquiresShareOneUpload() async throws {
        let directory = try RunDirectory()
        defer { directory.remove() }
        let initrd = try SystemLibvirt.file(directory, "initrd.cpio", bytes: 8 << 20, seed: 6)
        let cache = UploadCache(uri: SystemLibvirt.uri)
        defer { cache.close() }
        let leases = try await withThrowingTaskGroup(of: UploadCache.Lease.self) { group in
            for _ in 0..<3 { group.addTask { try cache.acquire(initrd) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(leases.filter { !$0.reused }.count == 1)
        #expect(Set(leases.map(\.path)).count == 1)
        #expect(cache.counts == (volumes: 1, inUse: 1))
        for lease in leases { cache.release(lease) }
        #expect(cache.counts == (volumes: 1, inUse: 0))
    }
}

@Suite("content digests of uploads")
struct UploadDigestTests {
    @Test("a file is hashed by content; rewritten in place with other bytes of the same size it gets a new digest")
    func rewrittenFileIsHashedAgain() throws {
        let directory = try RunDirectory()
        defer { directory.remove() }
        let file = directory.file("initrd.cpio")
        try Data(repeating: 1, count: 4096).write(to: file)
        let first = try UploadCache.digest(of: file)
        #expect(first == (try FileDigest.sha256(file)))
        #expect(try UploadCache.digest(of: file) == first)
        let handle = try FileHandle(forWritingTo: file)
        try handle.write(contentsOf: Data(repeating: 2, count: 4096))
        try handle.close()
        let second = try UploadCache.digest(of: file)
        #expect(second != first)
        #expect(second == (try FileDigest.sha256(file)))
    }
}
