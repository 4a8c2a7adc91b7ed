// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "handover",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "handover", targets: ["handover"]),
        .executable(name: "handover-agent", targets: ["handover-agent"]),
        .library(name: "HandoverCore", targets: ["HandoverCore"]),
        .library(name: "HandoverRunner", targets: ["HandoverRunner"]),
        .library(name: "HandoverLibvirt", targets: ["HandoverLibvirt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // Shared by host and guest: models, protocol, fingerprints. No dependencies, so the
        // static guest agent stays small.
        .target(name: "HandoverCore"),
        // The kernel interfaces Swift cannot call directly (variadic ioctl, raw syscalls).
        .target(name: "CLiveUpdate", cSettings: [.unsafeFlags(["-O2"])]),
        .executableTarget(
            name: "handover-agent",
            dependencies: ["HandoverCore", "CLiveUpdate"],
            swiftSettings: [.unsafeFlags(["-Osize"])],
            linkerSettings: [.unsafeFlags(["-static-executable", "-Xlinker", "--strip-all", "-l_FoundationCollections", "-l_FoundationCShims", "-lswiftSynchronization"])]
        ),
        .target(
            name: "HandoverRunner",
            dependencies: [
                "HandoverCore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            resources: [.copy("Reports/Templates")]
        ),
        // libvirt's C API (host only, linked dynamically: libvirt cannot be linked statically).
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        // The libvirt backend (--backend libvirt): registers itself with MachineFactory so
        // HandoverRunner and the guest agent do not depend on libvirt.
        .target(name: "HandoverLibvirt", dependencies: ["HandoverRunner", "CLibvirt"]),
        .executableTarget(
            name: "handover",
            dependencies: [
                "HandoverRunner",
                "HandoverLibvirt",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "HandoverCoreTests", dependencies: ["HandoverCore"]),
        .testTarget(
            name: "HandoverRunnerTests",
            dependencies: ["HandoverRunner"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "EndToEndTests", dependencies: ["HandoverRunner"]),
        .testTarget(name: "HandoverLibvirtTests", dependencies: ["HandoverLibvirt", "HandoverRunner", "CLibvirt"]),
    ],
    swiftLanguageModes: [.v6]
)
