import Foundation
import HandoverSupport

/// The CPU architecture an image is built for and boots on (issue 20). x86_64 is the default
/// everywhere: a recipe without `arch:` is x86_64, an image.json without `architecture` is
/// x86_64, and an x86_64 recipe's cache key is computed exactly as before architectures existed.
public enum Architecture: String, Codable, Sendable, CaseIterable, Comparable {
    case x86_64
    case arm64

    public static let `default` = Architecture.x86_64

    public static func < (a: Architecture, b: Architecture) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Reads a recipe's or matrix's `arch:` value; "aarch64" is accepted for arm64.
    public init?(name: String) {
        switch name {
        case "x86_64", "x86-64", "amd64": self = .x86_64
        case "arm64", "aarch64": self = .arm64
        default: return nil
        }
    }

    /// An image.json's `architecture` (nil in images built before it was recorded: x86_64).
    public init(recorded: String?) {
        self = recorded.flatMap(Architecture.init(name:)) ?? .x86_64
    }

    public static let expectedNames = "x86_64 or arm64"

    // MARK: Building kernels

    /// make's ARCH.
    public var makeArch: String { rawValue }

    /// make's CROSS_COMPILE on an x86_64 host (Debian's cross toolchain), nil for a native build.
    public var crossCompile: String? {
        switch self {
        case .x86_64: nil
        case .arm64: "aarch64-linux-gnu-"
        }
    }

    /// The compiler whose version goes into the cache key.
    public var compiler: String { (crossCompile ?? "") + "gcc" }

    /// The make target and the file it leaves in the build folder: the image kexec_file_load
    /// takes on this architecture (arm64's loader takes the uncompressed `Image`).
    public var kernelTarget: String {
        switch self {
        case .x86_64: "bzImage"
        case .arm64: "Image"
        }
    }

    public var kernelBuildPath: String { "arch/\(rawValue)/boot/\(kernelTarget)" }

    /// The kernel's file name in the image's cache folder. x86_64 keeps "bzImage" (the
    /// name every existing cache entry uses).
    public var kernelFileName: String { kernelTarget }

    /// The folder name under .build/agent/ and scripts/build-agent.sh's argument.
    public var agentArch: String {
        switch self {
        case .x86_64: "x86_64"
        case .arm64: "aarch64"
        }
    }

    // MARK: Booting

    public var qemuBinary: String {
        switch self {
        case .x86_64: "qemu-system-x86_64"
        case .arm64: "qemu-system-aarch64"
        }
    }

    /// The kernel console: the first 16550 on x86_64, the virt machine's PL011 on arm64.
    public var consoleDevice: String {
        switch self {
        case .x86_64: "ttyS0"
        case .arm64: "ttyAMA0"
        }
    }

    /// The agent's channel in the guest. x86_64: the second 16550 (ttyS1). arm64: QEMU 7.2's
    /// virt machine has a single PL011, so the channel is a virtio console (hvc0) on the
    /// virtio-mmio transport the device tree describes.
    public var agentPort: String {
        switch self {
        case .x86_64: "/dev/ttyS1"
        case .arm64: "/dev/hvc0"
        }
    }

    /// libvirt's `<os><type arch=…>`.
    public var libvirtArch: String {
        switch self {
        case .x86_64: "x86_64"
        case .arm64: "aarch64"
        }
    }

    /// The architecture of the machine handover runs on.
    public static var host: Architecture {
        var info = utsname()
        uname(&info)
        let machine = withUnsafeBytes(of: &info.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return Architecture(name: machine) ?? .x86_64
    }
}

extension KernelImage {
    /// The image's architecture (x86_64 for images recorded before architectures existed).
    public var arch: Architecture { Architecture(recorded: architecture) }
}

/// The header of an arm64 `Image` (Documentation/arch/arm64/booting.rst): the magic
/// "ARM\x64" at offset 56 says kexec_file_load's Image loader will take it.
public struct Arm64ImageHeader: Sendable, Equatable {
    public var textOffset: UInt64
    public var imageSize: UInt64
    public var flags: UInt64

    public init(data: Data) throws {
        let bytes = [UInt8](data.prefix(64))
        guard bytes.count == 64, bytes[56] == 0x41, bytes[57] == 0x52, bytes[58] == 0x4d, bytes[59] == 0x64 else {
            throw HarnessError(.io, "not an arm64 Image: no 'ARM\\x64' magic at offset 56")
        }
        func u64(_ offset: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) } }
        textOffset = u64(8)
        imageSize = u64(16)
        flags = u64(24)
    }

    public init(contentsOf url: URL) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw HarnessError(.io, "cannot read \(url.path)") }
        defer { try? handle.close() }
        try self.init(data: handle.readData(ofLength: 64))
    }

    /// Little-endian kernel (flags bit 0 clear), the only kind the arm64 kexec loader takes here.
    public var littleEndian: Bool { flags & 1 == 0 }
}
