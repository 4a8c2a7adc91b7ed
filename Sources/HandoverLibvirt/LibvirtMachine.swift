import CLibvirt
import Foundation
import Synchronization
import HandoverCore
import HandoverSupport
import HandoverMachines

/// The libvirt backend: a machine maker with it makes LibvirtMachines for `--backend libvirt`.
public enum LibvirtBackend {
    public static let machines = MachineMaker(libvirt: { config, directory, uri in
        LibvirtMachine(config: config, directory: directory, uri: uri)
    })

    /// Removes what the runs of this process uploaded to libvirt hosts (also done at exit).
    public static func shutdown() {
        UploadCache.closeAll()
    }
}

/// A libvirt object handle that crosses threads (libvirt's objects are reference counted and
/// thread safe).
struct Handle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

/// One transient libvirt domain, local or remote, giving the runner the same events, host
/// timestamps, console.log and transcript.jsonl as QemuMachine.
///
/// - Kernel and initramfs reach the libvirt host as volumes of a transient `dir` storage pool
///   filled by volume upload over a stream (UploadCache: once per content for the process, so
///   a matrix's runs share what they have in common); the domain boots from their paths.
/// - The domain is created paused (and auto-destroyed if this process's connection goes
///   away), the console and the agent channel are opened as streams, then it is resumed:
///   like QEMU's chardev sockets, both are connected before the guest runs.
/// - The VM's clock (HostTime zero) starts at the resume; everything before it is the set-up,
///   reported step by step in `setup` and not as VM time.
/// - Each stream is read on its own thread with blocking virStreamRecv; lines get the host's
///   monotonic time on arrival. The domain's end comes from lifecycle events (libvirt's default
///   event loop on a thread of its own), with polling of virDomainIsActive as a fallback.
public final class LibvirtMachine: VirtualMachine, @unchecked Sendable {
    public let config: VMConfig
    public let directory: RunDirectory
    public let uri: String
    /// The domain's name.
    public let name: String
    let events = Mailbox<VMEvent>()

    /// Everything below is guarded by `lock`.
    private let lock = NSLock()
    private var startedAt = LibvirtMachine.monotonicNow()
    private var domainXML: String
    private var connection: Handle?
    private var uploads: UploadCache?
    private var leases: [UploadCache.Lease] = []
    private var setupSteps: [MachineSetup.Step] = []
    private var setupSeconds: Double = 0
    private var domain: Handle?
    private var console: Handle?
    private var channel: Handle?
    private var callbackID: Int32 = -1
    private var readersStarted = false
    private var exited = false
    /// When QEMU reported the guest's end (before libvirt has reaped it and says "stopped").
    private var guestEnded: HostTime?
    private var stopping = false
    private var recorder: ChannelRecorder?
    private var errors: [String] = []
    private var interruptAction: UUID?

    /// Serialises stop() (the run's own and the interrupt path's) and keeps lines whole on send.
    private let stopLock = NSLock()
    private let sendLock = NSLock()
    private let readers = DispatchGroup()

    public init(config: VMConfig, directory: RunDirectory, uri: String) {
        self.config = config
        self.directory = directory
        self.uri = uri
        name = DomainXML.uniqueName()
        // Until the uploads name the volumes: the local files, as a libvirt on this machine could use them.
        domainXML = DomainXML.make(config: config, name: name, kernelPath: config.kernel.path, initrdPath: config.initrd.path)
    }

    public var consoleLog: URL { directory.file("console.log") }
    public var transcript: URL { directory.file("transcript.jsonl") }
    var domainFile: URL { directory.file("domain.xml") }

    public var launchDescription: String { locked { domainXML } }
    public var hostErrors: [String] { locked { errors } }
    public var setup: MachineSetup { locked { MachineSetup(seconds: setupSeconds, steps: setupSteps) } }

    public var artifacts: [(URL, String)] {
        [(consoleLog, "console.log"), (transcript, "transcript.jsonl"), (domainFile, "domain.xml")]
    }

    public func consoleLines(last count: Int) -> [String] { locked { recorder }?.consoleLines(last: count) ?? [] }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    static func monotonicNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func hostTime(nanoseconds: UInt64) -> HostTime { HostTime(nanoseconds: nanoseconds) }

    func now() -> HostTime {
        let zero = locked { startedAt }
        let current = Self.monotonicNow()
        return Self.hostTime(nanoseconds: current > zero ? current - zero : 0)
    }

    // MARK: - Start

    public func start(connectTimeout: TimeInterval) async throws {
        // libvirt's calls block: make them on a thread of their own, not the cooperative pool.
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread { [self] in
                do {
                    try startBlocking()
                    continuation.resume()
                } catch {
                    stop()
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Throws when stop() ran meanwhile (SIGINT during the start).
    private func checkNotStopping() throws {
        if locked({ stopping }) { throw HarnessError(.interrupted, "libvirt: the start of \(name) was interrupted") }
    }

    /// Times one step of the set-up; the step is recorded even when it throws.
    private func step<T>(_ name: String, since begin: UInt64, _ body: () throws -> (T, String?)) throws -> T {
        let started = Self.monotonicNow()
        var detail: String?
        defer {
            let ended = Self.monotonicNow()
            locked {
                setupSteps.append(MachineSetup.Step(name: name, seconds: Double(ended - started) / 1e9, detail: detail))
                setupSeconds = Double(ended - begin) / 1e9
            }
        }
        let (value, said) = try body()
        detail = said
        return value
    }

    private func startBlocking() throws {
        if let refusal = config.timing.refusal(on: .libvirt(uri: uri)) { throw HarnessError(.configRejected, refusal) }
        let begin = Self.monotonicNow()
        let action = ChildProcesses.shared.onInterrupt { [weak self] in self?.stop() }
        locked { interruptAction = action }
        try checkNotStopping()

        let recorder = try ChannelRecorder(consoleLog: consoleLog, transcript: transcript, events: events)
        locked { self.recorder = recorder }

        LibvirtRuntime.ready
        let connection: Handle = try step("connect", since: begin) {
            guard let opened = virConnectOpen(uri) else { throw LibvirtRuntime.error("connecting to \(uri)") }
            return (Handle(opened), nil)
        }
        // This thread keeps its own references: stop() (SIGINT) may release the machine's meanwhile.
        virConnectRef(connection.pointer)
        defer { virConnectClose(connection.pointer) }
        locked { self.connection = connection }
        try checkNotStopping()
        LibvirtLeftovers.reapOnce(connection: connection, uri: uri)

        // Kernel and initramfs go to the libvirt host as volumes, once per content for this process.
        let uploads = UploadCache.forURI(uri)
        locked { self.uploads = uploads }
        let kernel = try step("upload kernel", since: begin) { try lease(config.kernel, from: uploads) }
        try checkNotStopping()
        let initrd = try step("upload initramfs", since: begin) { try lease(config.initrd, from: uploads) }
        try checkNotStopping()
        let xml = DomainXML.make(config: config, name: name, kernelPath: kernel.path, initrdPath: initrd.path)
        locked { domainXML = xml }
        try AtomicFile.write(xml, to: domainFile)

        // Paused first: the console and channel streams must be open before the guest runs.
        let domain: Handle = try step("create domain", since: begin) {
            let flags = VIR_DOMAIN_START_PAUSED.rawValue | VIR_DOMAIN_START_AUTODESTROY.rawValue
            guard let created = virDomainCreateXML(connection.pointer, xml, UInt32(flags)) else {
                throw LibvirtRuntime.error("creating domain \(name) on \(uri)")
            }
            // stop() may have found the domain by name meanwhile (SIGINT): keep one handle.
            let domain: Handle = locked {
                if let existing = self.domain {
                    virDomainFree(created)
                    return existing
                }
                self.domain = Handle(created)
                return Handle(created)
            }
            return (domain, nil)
        }
        virDomainRef(domain.pointer)
        defer { virDomainFree(domain.pointer) }
        try checkNotStopping()

        try step("open streams", since: begin) {
            try registerLifecycleEvents(connection: connection, domain: domain)
            guard let consoleStream = virStreamNew(connection.pointer, 0) else { throw LibvirtRuntime.error("creating a stream") }
            locked { console = Handle(consoleStream) }
            guard virDomainOpenConsole(domain.pointer, nil, consoleStream, UInt32(VIR_DOMAIN_CONSOLE_FORCE.rawValue)) == 0 else {
                throw LibvirtRuntime.error("opening the serial console of \(name)")
            }
            guard let channelStream = virStreamNew(connection.pointer, 0) else { throw LibvirtRuntime.error("creating a stream") }
            locked { channel = Handle(channelStream) }
            // The agent's channel is the second serial port (ttyS1 in the guest), libvirt's "serial1".
            let channelDevice = DomainXML.agentChannelAlias(config.arch)
            guard virDomainOpenConsole(domain.pointer, channelDevice, channelStream, UInt32(VIR_DOMAIN_CONSOLE_FORCE.rawValue)) == 0 else {
                throw LibvirtRuntime.error("opening the agent's channel (\(channelDevice)) of \(name)")
            }
            startReaders(console: Handle(consoleStream), channel: Handle(channelStream), recorder: recorder)
            return ((), "console and agent channel")
        }
        try checkNotStopping()

        // The VM's clock starts here: the guest runs from the resume on.
        let resumed = Self.monotonicNow()
        locked {
            startedAt = resumed
            setupSeconds = Double(resumed - begin) / 1e9
        }
        guard virDomainResume(domain.pointer) == 0 else { throw LibvirtRuntime.error("resuming domain \(name)") }
        startPolling()
    }

    /// Takes a lease on the file's volume; says whether it was uploaded now or reused.
    private func lease(_ file: URL, from uploads: UploadCache) throws -> (UploadCache.Lease, String?) {
        let lease = try uploads.acquire(file)
        locked { leases.append(lease) }
        let size = String(format: "%.1f MB", Double(lease.bytes) / 1e6)
        let digest = "sha256 \(lease.digest.prefix(12))"
        return (lease, lease.reused ? "reused \(size) (\(digest)), uploaded earlier by this process" : "uploaded \(size) (\(digest))")
    }

    // MARK: - Events

    /// Holds the machine weakly for libvirt's callback; released by libvirt's free callback.
    final class LifecycleSink: @unchecked Sendable {
        weak var machine: LibvirtMachine?
        init(_ machine: LibvirtMachine) { self.machine = machine }
    }

    private func registerLifecycleEvents(connection: Handle, domain: Handle) throws {
        let callback: @convention(c) (OpaquePointer?, OpaquePointer?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, event, detail, opaque in
            guard let opaque else { return 0 }
            Unmanaged<LifecycleSink>.fromOpaque(opaque).takeUnretainedValue().machine?.lifecycle(event: event, detail: detail)
            return 0
        }
        let release: @convention(c) (UnsafeMutableRawPointer?) -> Void = { opaque in
            if let opaque { Unmanaged<LifecycleSink>.fromOpaque(opaque).release() }
        }
        let opaque = Unmanaged.passRetained(LifecycleSink(self)).toOpaque()
        let id = virConnectDomainEventRegisterAny(connection.pointer, domain.pointer, Int32(VIR_DOMAIN_EVENT_ID_LIFECYCLE.rawValue),
                                                  unsafeBitCast(callback, to: virConnectDomainEventGenericCallback.self), opaque, release)
        guard id >= 0 else {
            Unmanaged<LifecycleSink>.fromOpaque(opaque).release()
            throw LibvirtRuntime.error("registering for the lifecycle events of \(name)")
        }
        locked { callbackID = id }
    }

    /// Called on libvirt's event thread. With on_poweroff/on_reboot=destroy, "shutdown" comes
    /// when QEMU stops the guest at its request; libvirt then kills QEMU and says "stopped" once
    /// it has reaped it (1.5-2 s later where init reaps orphans slowly). The exit is posted at
    /// "stopped" but timed at "shutdown", the moment the guest ended, as QEMU's exit would be.
    func lifecycle(event: Int32, detail: Int32) {
        if event == Int32(VIR_DOMAIN_EVENT_SHUTDOWN.rawValue) {
            let time = now()
            locked { if guestEnded == nil { guestEnded = time } }
        }
        guard event == Int32(VIR_DOMAIN_EVENT_STOPPED.rawValue) else { return }
        noteExit(status: Self.stoppedStatus(detail: detail))
    }

    /// How the domain stopped, in the words RunTracker understands: a domain ended from
    /// outside (destroyed by someone else, QEMU failing) is the counterpart of QEMU killed by a
    /// signal, an infrastructure error; the guest's own ends (power off, reboot under
    /// on_reboot=destroy, crash) are judged from the console like QEMU exiting.
    static func stoppedStatus(detail: Int32) -> String {
        switch UInt32(bitPattern: detail) {
        case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN.rawValue: "stopped (shutdown)"
        case VIR_DOMAIN_EVENT_STOPPED_DESTROYED.rawValue: "signaled: domain destroyed through libvirt"
        case VIR_DOMAIN_EVENT_STOPPED_CRASHED.rawValue: "stopped (crashed)"
        case VIR_DOMAIN_EVENT_STOPPED_FAILED.rawValue: "signaled: QEMU failed (libvirt)"
        case VIR_DOMAIN_EVENT_STOPPED_MIGRATED.rawValue: "stopped (migrated)"
        case VIR_DOMAIN_EVENT_STOPPED_SAVED.rawValue: "stopped (saved)"
        default: "stopped (detail \(detail))"
        }
    }

    /// The domain ended: posts .exited once, after the console and channel readers have drained
    /// what QEMU wrote before it went (bounded), so every line comes before the exit.
    private func noteExit(status: String) {
        let current = now()
        let (first, time): (Bool, HostTime) = locked {
            guard !exited else { return (false, current) }
            exited = true
            return (true, guestEnded ?? current)
        }
        guard first else { return }
        let readers = self.readers
        let events = self.events
        Thread.detachNewThread {
            _ = readers.wait(timeout: .now() + 3)
            events.postAndWait(.exited(status: status, time))
        }
    }

    /// The fallback for lost lifecycle events: asks every half second whether the domain runs.
    private func startPolling() {
        Thread.detachNewThread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: 0.5)
                guard let self else { return }
                let domain: Handle? = self.locked {
                    guard !self.stopping, !self.exited, let domain = self.domain else { return nil }
                    virDomainRef(domain.pointer)
                    return domain
                }
                guard let domain else { return }
                let active = virDomainIsActive(domain.pointer)
                let gone = active == 0 || (active < 0 && LibvirtRuntime.lastCode() == Int32(VIR_ERR_NO_DOMAIN.rawValue))
                virDomainFree(domain.pointer)
                if gone, !self.locked({ self.stopping }) { self.noteExit(status: "stopped (found inactive)") }
            }
        }
    }

    // MARK: - Streams

    private func startReaders(console: Handle, channel: Handle, recorder: ChannelRecorder) {
        locked { readersStarted = true }
        readers.enter()
        Thread.detachNewThread { [self] in
            pump(console, what: "console") { recorder.console($0, at: now()) }
            readers.leave()
        }
        readers.enter()
        Thread.detachNewThread { [self] in
            pump(channel, what: "agent channel") { recorder.agent($0, at: now()) }
            recorder.agentClosed(at: now())
            readers.leave()
        }
    }

    /// Reads a stream until it ends, calling `onLine` per line without the newline (carriage
    /// returns from the serial console dropped), then finishes and frees the stream.
    private func pump(_ stream: Handle, what: String, onLine: (String) -> Void) {
        var pending: [UInt8] = []
        var buffer = [CChar](repeating: 0, count: 65536)
        var failure: String?
        while true {
            let count = buffer.withUnsafeMutableBufferPointer { virStreamRecv(stream.pointer, $0.baseAddress, $0.count) }
            if count == -2 { usleep(5000); continue }
            if count < 0 { failure = LibvirtRuntime.lastMessage(); break }
            if count == 0 { break }
            for index in 0..<Int(count) {
                let byte = UInt8(bitPattern: buffer[index])
                if byte == 10 {
                    onLine(String(decoding: pending, as: UTF8.self))
                    pending.removeAll(keepingCapacity: true)
                } else if byte != 13 {
                    pending.append(byte)
                }
            }
        }
        if !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
        locked {
            if console?.pointer == stream.pointer { console = nil }
            if channel?.pointer == stream.pointer { channel = nil }
            if let failure, !stopping, !exited { errors.append("libvirt: \(what) stream: \(failure)") }
        }
        if failure == nil { virStreamFinish(stream.pointer) } else { virStreamAbort(stream.pointer) }
        virStreamFree(stream.pointer)
    }

    public func send(_ command: RunnerCommand) {
        let line = ProtocolLine.encode(command)
        sendLock.lock()
        defer { sendLock.unlock() }
        let (stream, recorder): (Handle?, ChannelRecorder?) = locked {
            if let channel { virStreamRef(channel.pointer) }
            return (channel, self.recorder)
        }
        recorder?.runner(line, at: now())
        guard let stream else { return }
        defer { virStreamFree(stream.pointer) }
        let bytes = Array((line + "\n").utf8).map { CChar(bitPattern: $0) }
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBufferPointer { virStreamSend(stream.pointer, $0.baseAddress! + offset, $0.count - offset) }
            if count == -2 { usleep(1000); continue }
            guard count > 0 else {
                let message = LibvirtRuntime.lastMessage()
                locked { errors.append("libvirt: sending to the agent channel: \(message)") }
                return
            }
            offset += Int(count)
        }
    }

    // MARK: - Waiting and stopping

    public func next(until deadline: ContinuousClock.Instant) async -> VMEvent? {
        await events.next(until: deadline)
    }

    public func waitForExit(timeout: TimeInterval) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while !locked({ exited }) {
            guard let event = await events.next(until: deadline) else { return false }
            if case .exited = event { return true }
        }
        return true
    }

    /// Destroys the domain if it still runs, releases its uploads, closes the streams and the
    /// connection. Safe to call twice and from the interrupt path; a second
    /// caller waits for the first.
    public func stop() {
        stopLock.lock()
        defer { stopLock.unlock() }
        var (domain, action, connection) = locked {
            stopping = true
            return (self.domain, interruptAction, self.connection)
        }
        // Interrupted while virDomainCreateXML runs on the start thread: the domain exists in
        // libvirt but not here yet. (AUTODESTROY would end it when this process's connection
        // closes, but only after handover has exited.)
        if domain == nil, let connection, let found = virDomainLookupByName(connection.pointer, name) {
            domain = Handle(found)
            locked { if self.domain == nil { self.domain = domain } else { virDomainFree(found); domain = self.domain } }
        }
        if let domain {
            if virDomainIsActive(domain.pointer) == 1, virDomainDestroy(domain.pointer) != 0, virDomainIsActive(domain.pointer) == 1 {
                let message = LibvirtRuntime.lastMessage()
                locked { errors.append("libvirt: cannot destroy domain \(name): \(message)") }
            }
        }
        // The streams end with the domain; abort the ones that do not, so the readers return.
        if readers.wait(timeout: .now() + 3) == .timedOut {
            locked {
                for stream in [console, channel].compactMap({ $0 }) { virStreamAbort(stream.pointer) }
            }
            _ = readers.wait(timeout: .now() + 3)
        }
        let (callback, leases, uploads, recorder) = locked {
            // Streams opened by a start that failed before the readers began are freed here.
            if !readersStarted {
                for stream in [console, channel].compactMap({ $0 }) {
                    virStreamAbort(stream.pointer)
                    virStreamFree(stream.pointer)
                }
                console = nil
                channel = nil
            }
            let taken = (callbackID, self.leases, self.uploads, self.recorder)
            callbackID = -1
            self.leases = []
            self.domain = nil
            return taken
        }
        if let connection, callback >= 0 { virConnectDomainEventDeregisterAny(connection.pointer, callback) }
        if let domain { virDomainFree(domain.pointer) }
        // The domain is gone: its kernel and initramfs may go too once no other run needs them.
        for lease in leases { uploads?.release(lease) }
        locked {
            // Streams still held (the readers did not return): leave them to the readers.
            if self.console == nil && self.channel == nil, let connection = self.connection {
                virConnectClose(connection.pointer)
                self.connection = nil
            }
        }
        recorder?.flush()
        if let action {
            ChildProcesses.shared.removeInterruptAction(action)
            locked { interruptAction = nil }
        }
    }
}

/// Transient domains and pools left on a libvirt host by a handover that is gone. Domains are
/// created with AUTODESTROY, so libvirtd ends them when their runner's connection drops; pools
/// have no such flag. The first libvirt start of each handover process destroys, for its URI,
/// every domain and pool named after an owner that ran on this machine since its last boot and
/// is gone (never one of a live runner, nor one recorded under another boot: a shared libvirt
/// host serves other machines' runners too).
enum LibvirtLeftovers {
    private static let done = Mutex<Set<String>>([])

    static func reapOnce(connection: Handle, uri: String) {
        guard done.withLock({ $0.insert(uri).inserted }) else { return }
        for name in reap(connection: connection, uri: uri) {
            FileHandle.standardError.write(Data("handover: removed \(name) on \(uri), left by a runner that is gone\n".utf8))
        }
    }

    static func isLeftover(_ name: String) -> Bool {
        DomainXML.owner(ofName: name)?.status == .gone
    }

    /// Destroys the leftovers; returns what was removed ("domain NAME", "pool NAME").
    @discardableResult
    static func reap(connection: Handle, uri: String) -> [String] {
        var removed: [String] = []
        var domains: UnsafeMutablePointer<OpaquePointer?>?
        let domainCount = virConnectListAllDomains(connection.pointer, &domains, UInt32(VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue))
        if domainCount > 0, let domains {
            for index in 0..<Int(domainCount) {
                guard let domain = domains[index] else { continue }
                if let cName = virDomainGetName(domain), isLeftover(String(cString: cName)) {
                    let name = String(cString: cName)
                    if virDomainDestroy(domain) == 0 { removed.append("domain \(name)") }
                }
                virDomainFree(domain)
            }
        }
        if let domains { free(domains) }
        var pools: UnsafeMutablePointer<OpaquePointer?>?
        let poolCount = virConnectListAllStoragePools(connection.pointer, &pools, UInt32(VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE.rawValue))
        if poolCount > 0, let pools {
            for index in 0..<Int(poolCount) {
                guard let pool = pools[index] else { continue }
                if let cName = virStoragePoolGetName(pool), isLeftover(String(cString: cName)) {
                    let name = String(cString: cName)
                    _ = virStoragePoolRefresh(pool, 0)
                    var volumes: UnsafeMutablePointer<OpaquePointer?>?
                    let volumeCount = virStoragePoolListAllVolumes(pool, &volumes, 0)
                    if volumeCount > 0, let volumes {
                        for v in 0..<Int(volumeCount) {
                            guard let volume = volumes[v] else { continue }
                            _ = virStorageVolDelete(volume, 0)
                            virStorageVolFree(volume)
                        }
                    }
                    if let volumes { free(volumes) }
                    if virStoragePoolDestroy(pool) == 0 {
                        removed.append("pool \(name)")
                        if LibvirtRuntime.isLocal(uri) { rmdir("\(UploadCache.poolParent)/\(name)") }
                    }
                }
                virStoragePoolFree(pool)
            }
        }
        if let pools { free(pools) }
        return removed
    }
}
