// swift-tools-version:6.2
// The libFuzzer target for the scenario, matrix and recipe parsers, which need HandoverMatrix
// (and Yams): a package of its own so that the project's build and CI never see it.
// Built by Benchmarks/fuzz/fuzz.sh with -sanitize=fuzzer (libFuzzer supplies main).
import PackageDescription

let package = Package(
    name: "FuzzYAML",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "handover", path: "../../..")],
    targets: [
        .executableTarget(
            name: "FuzzYAML",
            dependencies: [.product(name: "HandoverMatrix", package: "handover")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
