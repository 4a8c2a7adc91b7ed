// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "handover",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "handover", targets: ["handover"]),
        .library(name: "HandoverCore", targets: ["HandoverCore"]),
        // The host side up to matrices (images, machines, results, runs); reports, history and
        // bisect are their own.
        .library(name: "HandoverMatrix", targets: ["HandoverMatrix"]),
        .library(name: "HandoverReports", targets: ["HandoverReports"]),
        .library(name: "HandoverHistory", targets: ["HandoverHistory"]),
        .library(name: "HandoverBisect", targets: ["HandoverBisect"]),
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
        // The host side, one target per step of the data flow; each imports only targets above
        // it (docs/ARCHITECTURE.md). Processes, atomic files, input reading.
        .target(
            name: "HandoverSupport",
            dependencies: [
                "HandoverCore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Kernel images: recipes, sources, configuration, builds, the cache.
        .target(
            name: "HandoverImages",
            dependencies: ["HandoverSupport", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Machines: the initramfs, the VirtualMachine protocol, QEMU, the agent's channel.
        .target(name: "HandoverMachines", dependencies: ["HandoverImages"], plugins: ["GuestAgent"]),
        // Results: what a run, a VM, a selftest and a matrix produce, and the statistics on them.
        .target(name: "HandoverResults", dependencies: ["HandoverMachines"]),
        // Runs: scenarios, the session that drives the agent, the tracker and its judgement.
        .target(name: "HandoverRuns", dependencies: ["HandoverResults"]),
        // Reports written from results: JSON summaries, JUnit, KTAP, HTML, KCIDB.
        .target(
            name: "HandoverReports",
            dependencies: ["HandoverResults", .product(name: "Mustache", package: "swift-mustache")],
            resources: [.copy("Templates")]
        ),
        // The run history (SQLite) and the comparisons made from it.
        .target(
            name: "HandoverHistory",
            dependencies: ["HandoverResults", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // Matrices: the file, the plan, the runner of cells.
        .target(name: "HandoverMatrix", dependencies: ["HandoverRuns"]),
        // Bisecting a bad pair or a slow kernel to its commit.
        .target(name: "HandoverBisect", dependencies: ["HandoverRuns"]),
        // Runs scripts/build-agent.sh before HandoverMachines builds: the agent it boots is current.
        .plugin(name: "GuestAgent", capability: .buildTool()),
        // libvirt's C API (host only, linked dynamically: libvirt cannot be linked statically).
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        // The libvirt backend (--backend libvirt): a VirtualMachine the command line hands to the
        // runs, so nothing else depends on libvirt.
        .target(name: "HandoverLibvirt", dependencies: ["HandoverMachines", "CLibvirt"]),
        .executableTarget(
            name: "handover",
            dependencies: [
                "HandoverMatrix", "HandoverBisect", "HandoverReports", "HandoverHistory", "HandoverLibvirt",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // What tests share: sample kernel images, recorded runs and a VM that replays them.
        .target(name: "HandoverTestSupport", dependencies: ["HandoverMachines"], path: "Tests/HandoverTestSupport"),
        .testTarget(name: "HandoverCoreTests", dependencies: ["HandoverCore"]),
        .testTarget(
            name: "HandoverRunnerTests",
            dependencies: [
                "HandoverMatrix", "HandoverBisect", "HandoverReports", "HandoverHistory", "HandoverTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "EndToEndTests", dependencies: ["HandoverMatrix", "HandoverReports", "HandoverHistory"]),
        .testTarget(name: "HandoverLibvirtTests", dependencies: ["HandoverLibvirt", "HandoverRuns", "CLibvirt"]),
    ],
    swiftLanguageModes: [.v6]
)
