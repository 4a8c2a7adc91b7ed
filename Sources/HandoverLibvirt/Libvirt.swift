import CLibvirt
import Foundation
import HandoverSupport

/// Process-wide libvirt setup, done once before the first connection: errors are collected
/// rather than printed by libvirt to stderr, and libvirt's default event loop runs on a thread
/// of its own (domain lifecycle events, stream and keepalive handling of remote connections).
enum LibvirtRuntime {
    static let ready: Void = {
        virSetErrorFunc(nil) { _, _ in }
        _ = virInitialize()
        if virEventRegisterDefaultImpl() == 0 {
            let thread = Thread {
                while true {
                    if virEventRunDefaultImpl() < 0 { usleep(100_000) }
                }
            }
            thread.name = "libvirt-events"
            thread.start()
        }
    }()

    /// libvirt's message for the last failure on this thread.
    static func lastMessage() -> String {
        guard let error = virGetLastError(), let message = error.pointee.message else { return "unknown libvirt error" }
        return String(cString: message)
    }

    /// libvirt's code for the last failure on this thread (a virErrorNumber), 0 when none.
    static func lastCode() -> Int32 {
        guard let error = virGetLastError() else { return 0 }
        return error.pointee.code
    }

    /// The last libvirt failure as a harness error: "libvirt: <libvirt's message> (<what>)".
    static func error(_ what: String, code: HarnessError.Code = .toolFailed) -> HarnessError {
        HarnessError(code, "libvirt: \(lastMessage()) (\(what))")
    }

    /// The default URI when none is given, and whether a URI points at this machine.
    static func isLocal(_ uri: String) -> Bool {
        guard let components = URLComponents(string: uri) else { return false }
        guard let host = components.host, !host.isEmpty else { return true }
        return ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host.lowercased())
    }
}

/// One connection to libvirt, closed when released.
final class LibvirtConnection: @unchecked Sendable {
    let pointer: OpaquePointer
    let uri: String

    init(uri: String) throws {
        LibvirtRuntime.ready
        guard let pointer = virConnectOpen(uri) else {
            throw LibvirtRuntime.error("connecting to \(uri)")
        }
        self.pointer = pointer
        self.uri = uri
    }

    deinit { virConnectClose(pointer) }

    /// The hypervisor's version as libvirt reports it (major * 1,000,000 + minor * 1,000 + release).
    func hypervisorVersion() throws -> UInt {
        var version: UInt = 0
        guard virConnectGetVersion(pointer, &version) == 0 else { throw LibvirtRuntime.error("asking \(uri) for its version") }
        return version
    }

    /// The running or defined domain of that name.
    func lookupDomain(named name: String) throws -> OpaquePointer {
        guard let domain = virDomainLookupByName(pointer, name) else {
            throw LibvirtRuntime.error("looking up domain \(name)", code: LibvirtRuntime.lastCode() == Int32(VIR_ERR_NO_DOMAIN.rawValue) ? .notFound : .toolFailed)
        }
        return domain
    }

    /// Names of the active storage pools.
    func activePoolNames() throws -> [String] {
        var pools: UnsafeMutablePointer<OpaquePointer?>?
        let count = virConnectListAllStoragePools(pointer, &pools, UInt32(VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE.rawValue))
        guard count >= 0, let pools else { throw LibvirtRuntime.error("listing the storage pools of \(uri)") }
        defer { free(pools) }
        var names: [String] = []
        for index in 0..<Int(count) {
            guard let pool = pools[index] else { continue }
            if let name = virStoragePoolGetName(pool) { names.append(String(cString: name)) }
            virStoragePoolFree(pool)
        }
        return names
    }

    /// Names of the running domains.
    func activeDomainNames() throws -> [String] {
        var domains: UnsafeMutablePointer<OpaquePointer?>?
        let count = virConnectListAllDomains(pointer, &domains, UInt32(VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue))
        guard count >= 0, let domains else { throw LibvirtRuntime.error("listing the domains of \(uri)") }
        defer { free(domains) }
        var names: [String] = []
        for index in 0..<Int(count) {
            guard let domain = domains[index] else { continue }
            if let name = virDomainGetName(domain) { names.append(String(cString: name)) }
            virDomainFree(domain)
        }
        return names
    }
}
