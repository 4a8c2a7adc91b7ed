// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "handover",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "handover", targets: ["handover"]),
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
        // Shared by host and guest: models, protocol and its JSON mapping, fingerprints. No
        // dependencies, and it compiles as Embedded Swift too: the guest agent (Agent/, built by
        // scripts/build-agent.sh, not by SwiftPM) is an Embedded Swift program that uses it.
        .target(name: "HandoverCore"),
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
            resources: [.copy("Reports/Templates")],
            plugins: ["GuestAgent"]
        ),
        // Runs scripts/build-agent.sh before HandoverRunner builds: the agent it boots is current.
        .plugin(name: "GuestAgent", capability: .buildTool()),
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
