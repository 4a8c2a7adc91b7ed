import CLibvirt
import Foundation
import HandoverSupport
import HandoverImages

/// Kernels and initramfs images on one libvirt host, uploaded once per content by this
/// process and shared by its runs: a matrix's repeats (their initramfs images are byte for
/// byte the same) and every run that boots the same first kernel.
///
/// - One transient `dir` pool per connection URI, made on first use and destroyed when
///   handover ends or is interrupted (`closeAll`). Its volumes are named after the SHA-256 of
///   their content, so a run only ever gets the bytes it asked for.
/// - A volume is handed out only once its upload finished with every byte; a failed upload is
///   deleted, never reused. Runs asking for content that is still being uploaded wait for it.
/// - The volumes are read-only inputs (QEMU reads kernel and initramfs when the domain
///   starts; nothing writes them afterwards). A run holds a lease until its domain is gone;
///   volumes no run holds are deleted, least recently used first, beyond `keepBytes`.
final class UploadCache: @unchecked Sendable {
    /// One run's hold on an uploaded file.
    struct Lease: Sendable {
        let digest: String
        let generation: Int
        /// The volume's path on the libvirt host.
        let path: String
        let bytes: Int
        /// Uploaded earlier (by another run of this process), not by this acquire.
        let reused: Bool
    }

    /// How much unused content stays on the libvirt host for later runs, by default.
    static let defaultKeepBytes = 512 << 20
    static let poolParent = "/var/lib/libvirt/handover-pools"

    private static let registryLock = NSLock()
    nonisolated(unsafe) private static var caches: [String: UploadCache] = [:]
    nonisolated(unsafe) private static var exitHookInstalled = false

    /// The process's cache for a connection URI.
    static func forURI(_ uri: String) -> UploadCache {
        registryLock.lock()
        defer { registryLock.unlock() }
        if let cache = caches[uri] { return cache }
        let cache = UploadCache(uri: uri)
        caches[uri] = cache
        if !exitHookInstalled {
            exitHookInstalled = true
            atexit { UploadCache.closeAll() }
        }
        return cache
    }

    /// Deletes every volume and pool of every cache; later acquires start afresh.
    static func closeAll() {
        registryLock.lock()
        let all = Array(caches.values)
        caches.removeAll()
        registryLock.unlock()
        for cache in all { cache.close() }
    }

    private final class Entry {
        let bytes: Int
        let generation: Int
        var volumeName: String?
        var path: String?
        var ready = false
        var users = 1
        var lastUsed: UInt64 = 0
        init(bytes: Int, generation: Int) {
            self.bytes = bytes
            self.generation = generation
        }
    }

    let uri: String
    let keepBytes: Int
    /// Guards everything below; waiters for an upload in flight sleep on it.
    private let condition = NSCondition()
    private var connection: OpaquePointer?
    private var pool: OpaquePointer?
    private var poolName: String?
    private var poolPath: String?
    /// Pools of earlier connections (one that died), destroyed at close.
    private var abandonedPools: [(name: String, path: String)] = []
    /// Bumped whenever the connection is replaced: leases of an older one refer to nothing.
    private var generation = 0
    private var entries: [String: Entry] = [:]
    private var uploads: [OpaquePointer] = []
    private var serial = 0
    private var clock: UInt64 = 0
    private var closed = false
    private var interruptAction: UUID?

    /// A cache of its own (tests); runs use `forURI`.
    init(uri: String, keepBytes: Int = UploadCache.defaultKeepBytes) {
        self.uri = uri
        self.keepBytes = keepBytes
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    // MARK: - Acquire and release

    /// The file's volume on the libvirt host: uploaded now, or reused when this process
    /// uploaded the same content before.
    func acquire(_ file: URL) throws -> Lease {
        let bytes: Int
        do {
            bytes = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw HarnessError(.io, "cannot read \(file.path): \(error.localizedDescription)")
        }
        let digest = try Self.digest(of: file)
        // Either an entry that is ready (reuse), or a new entry this call uploads.
        let (entry, reused): (Entry, Bool) = try locked {
            while true {
                guard !closed else { throw HarnessError(.interrupted, "libvirt: uploads to \(uri) were closed") }
                if let entry = entries[digest] {
                    if entry.ready {
                        entry.users += 1
                        return (entry, true)
                    }
                    condition.wait()
                    continue
                }
                let entry = Entry(bytes: bytes, generation: generation)
                entries[digest] = entry
                return (entry, false)
            }
        }
        if reused {
            return Lease(digest: digest, generation: entry.generation, path: entry.path!, bytes: bytes, reused: true)
        }
        do {
            let (name, path) = try upload(file, bytes: bytes, digest: digest)
            locked {
                entry.volumeName = name
                entry.path = path
                entry.ready = true
                condition.broadcast()
            }
            return Lease(digest: digest, generation: entry.generation, path: path, bytes: bytes, reused: false)
        } catch {
            locked {
                if entries[digest] === entry { entries[digest] = nil }
                condition.broadcast()
            }
            throw error
        }
    }

    /// The run no longer needs the file; unused volumes beyond `keepBytes` go.
    func release(_ lease: Lease) {
        let evicted: [String] = locked {
            guard let entry = entries[lease.digest], entry.generation == lease.generation, entry.users > 0 else { return [] }
            entry.users -= 1
            clock += 1
            entry.lastUsed = clock
            var unused = entries.filter { $0.value.ready && $0.value.users == 0 }.sorted { $0.value.lastUsed < $1.value.lastUsed }
            var kept = unused.reduce(0) { $0 + $1.value.bytes }
            var names: [String] = []
            while kept > keepBytes, let oldest = unused.first {
                unused.removeFirst()
                kept -= oldest.value.bytes
                entries[oldest.key] = nil
                if let name = oldest.value.volumeName { names.append(name) }
            }
            return names
        }
        for name in evicted { deleteVolume(named: name) }
    }

    /// How many volumes the cache holds and how many of them runs hold now (for tests).
    var counts: (volumes: Int, inUse: Int) {
        locked { (entries.values.filter(\.ready).count, entries.values.filter { $0.ready && $0.users > 0 }.count) }
    }

    /// A file as the filesystem identifies it: the same identity means the same content. The
    /// change time (which no program can set) tells a recycled inode from the file before it.
    private struct FileIdentity: Hashable {
        let device: UInt64
        let inode: UInt64
        let size: Int64
        let modified: [Int]
        let changed: [Int]
    }

    private static let digestLock = NSLock()
    nonisolated(unsafe) private static var digests: [FileIdentity: String] = [:]

    /// The file's SHA-256, hashed once per file for the process (a matrix boots the same
    /// cached bzImage many times; each run's initramfs is a new file).
    static func digest(of file: URL) throws -> String {
        var info = stat()
        guard stat(file.path, &info) == 0 else {
            throw HarnessError(.io, "cannot read \(file.path): \(String(cString: strerror(errno)))")
        }
        let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                                    modified: [info.st_mtim.tv_sec, info.st_mtim.tv_nsec],
                                    changed: [info.st_ctim.tv_sec, info.st_ctim.tv_nsec])
        digestLock.lock()
        let known = digests[identity]
        digestLock.unlock()
        if let known { return known }
        let digest = try FileDigest.sha256(file)
        digestLock.lock()
        digests[identity] = digest
        digestLock.unlock()
        return digest
    }

    // MARK: - Pool and upload

    /// The connection and the pool, (re)made when there is none or the connection died.
    private func ensurePool() throws -> (connection: OpaquePointer, pool: OpaquePointer, name: String) {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { throw HarnessError(.interrupted, "libvirt: uploads to \(uri) were closed") }
        if let connection, let pool, let poolName, virConnectIsAlive(connection) == 1 {
            return (connection, pool, poolName)
        }
        if connection != nil { dropConnection() }
        LibvirtRuntime.ready
        guard let opened = virConnectOpen(uri) else { throw LibvirtRuntime.error("connecting to \(uri)") }
        let name = DomainXML.uniqueName()
        let path = "\(Self.poolParent)/\(name)"
        guard let created = virStoragePoolCreateXML(opened, DomainXML.pool(name: name, path: path),
                                                    UInt32(VIR_STORAGE_POOL_CREATE_WITH_BUILD.rawValue)) else {
            let failure = LibvirtRuntime.error("creating the storage pool \(name) at \(path) on \(uri)")
            virConnectClose(opened)
            throw failure
        }
        connection = opened
        pool = created
        poolName = name
        poolPath = path
        if interruptAction == nil {
            interruptAction = ChildProcesses.shared.onInterrupt { [weak self] in self?.close() }
        }
        return (opened, created, name)
    }

    /// Forgets a dead connection: its uploads are gone for this process, its pool is destroyed
    /// at close if the host still has it. Called with the lock held.
    private func dropConnection() {
        if let poolName, let poolPath { abandonedPools.append((poolName, poolPath)) }
        if let pool { virStoragePoolFree(pool) }
        if let connection { virConnectClose(connection) }
        pool = nil
        connection = nil
        poolName = nil
        poolPath = nil
        generation += 1
        entries = entries.filter { !$0.value.ready }
    }

    /// Creates a raw volume of the file's size and fills it through an upload stream.
    private func upload(_ file: URL, bytes: Int, digest: String) throws -> (name: String, path: String) {
        let (connection, pool, poolName) = try ensurePool()
        let name: String = locked {
            serial += 1
            return "sha256-\(digest)-\(serial)"
        }
        guard let volume = virStorageVolCreateXML(pool, DomainXML.volume(name: name, bytes: bytes), 0) else {
            throw LibvirtRuntime.error("creating volume \(name) in pool \(poolName)")
        }
        defer { virStorageVolFree(volume) }
        do {
            try send(file, bytes: bytes, to: volume, name: name, connection: connection)
        } catch {
            virStorageVolDelete(volume, 0)
            throw error
        }
        guard let path = virStorageVolGetPath(volume) else {
            let failure = LibvirtRuntime.error("asking for the path of volume \(name)")
            virStorageVolDelete(volume, 0)
            throw failure
        }
        defer { free(path) }
        return (name, String(cString: path))
    }

    private func send(_ file: URL, bytes: Int, to volume: OpaquePointer, name: String, connection: OpaquePointer) throws {
        guard let stream = virStreamNew(connection, 0) else { throw LibvirtRuntime.error("creating a stream") }
        defer { virStreamFree(stream) }
        guard virStorageVolUpload(volume, stream, 0, UInt64(bytes), 0) == 0 else {
            throw LibvirtRuntime.error("starting the upload of \(file.lastPathComponent) to volume \(name)", code: .io)
        }
        // close() aborts uploads in flight (SIGINT during a start).
        let registered: Bool = locked {
            guard !closed else { return false }
            uploads.append(stream)
            return true
        }
        guard registered else {
            virStreamAbort(stream)
            throw HarnessError(.interrupted, "libvirt: uploads to \(uri) were closed")
        }
        defer { locked { uploads.removeAll { $0 == stream } } }
        let reader: FileHandle
        do {
            reader = try FileHandle(forReadingFrom: file)
        } catch {
            virStreamAbort(stream)
            throw HarnessError(.io, "cannot read \(file.path): \(error.localizedDescription)")
        }
        defer { try? reader.close() }
        var sent = 0
        while true {
            let chunk: Data
            do {
                guard let data = try reader.read(upToCount: 1 << 20), !data.isEmpty else { break }
                chunk = data
            } catch {
                virStreamAbort(stream)
                throw HarnessError(.io, "cannot read \(file.path): \(error.localizedDescription)")
            }
            try chunk.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
                let base = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
                var offset = 0
                while offset < raw.count {
                    let count = virStreamSend(stream, base + offset, raw.count - offset)
                    if count == -2 { usleep(1000); continue }
                    guard count > 0 else {
                        let failure = LibvirtRuntime.error("uploading \(file.lastPathComponent) to volume \(name)", code: .io)
                        virStreamAbort(stream)
                        throw failure
                    }
                    offset += Int(count)
                }
            }
            sent += chunk.count
        }
        guard sent == bytes else {
            virStreamAbort(stream)
            throw HarnessError(.io, "libvirt: read \(sent) of \(bytes) bytes of \(file.path) (the file changed meanwhile)")
        }
        guard virStreamFinish(stream) == 0 else {
            throw LibvirtRuntime.error("finishing the upload of \(file.lastPathComponent) to volume \(name)", code: .io)
        }
    }

    private func deleteVolume(named name: String) {
        let pool: OpaquePointer? = locked {
            guard let pool = self.pool else { return nil }
            virStoragePoolRef(pool)
            return pool
        }
        guard let pool else { return }
        defer { virStoragePoolFree(pool) }
        if let volume = virStorageVolLookupByName(pool, name) {
            virStorageVolDelete(volume, 0)
            virStorageVolFree(volume)
        }
    }

    // MARK: - Close

    /// Aborts uploads in flight, deletes every volume, destroys the pools and closes the
    /// connection. Safe to call twice and from the interrupt path.
    func close() {
        let (connection, pool, pools, streams, action): (OpaquePointer?, OpaquePointer?, [(name: String, path: String)], [OpaquePointer], UUID?) = locked {
            closed = true
            condition.broadcast()
            let current = poolName.flatMap { name in poolPath.map { [(name: name, path: $0)] } } ?? []
            let taken = (self.connection, self.pool, current + abandonedPools, uploads, interruptAction)
            for stream in uploads { virStreamRef(stream) }
            self.connection = nil
            self.pool = nil
            poolName = nil
            poolPath = nil
            abandonedPools = []
            entries = [:]
            interruptAction = nil
            return taken
        }
        for stream in streams {
            virStreamAbort(stream)
            virStreamFree(stream)
        }
        if let action { ChildProcesses.shared.removeInterruptAction(action) }
        if let pool { virStoragePoolFree(pool) }
        guard let connection = connection ?? (pools.isEmpty ? nil : virConnectOpen(uri)) else { return }
        for (name, path) in pools { Self.remove(pool: name, path: path, on: connection, uri: uri) }
        virConnectClose(connection)
    }

    /// Deletes a pool's volumes (all of them: also those of uploads cut short) and destroys it.
    static func remove(pool name: String, path: String, on connection: OpaquePointer, uri: String) {
        guard let pool = virStoragePoolLookupByName(connection, name) else { return }
        defer { virStoragePoolFree(pool) }
        _ = virStoragePoolRefresh(pool, 0)
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let count = virStoragePoolListAllVolumes(pool, &list, 0)
        if count > 0, let list {
            for index in 0..<Int(count) {
                guard let volume = list[index] else { continue }
                virStorageVolDelete(volume, 0)
                virStorageVolFree(volume)
            }
        }
        free(list)
        virStoragePoolDestroy(pool)
        // A transient pool leaves its (now empty) folder behind; remove it when the libvirt
        // host is this machine.
        if LibvirtRuntime.isLocal(uri) { rmdir(path) }
    }
}
