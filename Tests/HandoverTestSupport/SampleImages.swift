import Foundation
@testable import HandoverImages

/// Kernel images as a test needs them, without building one: a cached image's record with
/// KHO, LUO and memfd preservation configured.
public enum SampleImages {
    public static func image(_ recipe: String, release: String) -> KernelImage {
        KernelImage(
            recipe: recipe, recipeFile: "Images/\(recipe).yaml", key: String(repeating: "0", count: 24), kernelRelease: release,
            source: KernelImage.SourceInfo(kind: "debian", package: "linux-source", packageVersion: "\(release)-1", suite: "sid"),
            baseConfig: "tinyconfig", fragments: ["tiny-guest", "luo", "iommu-kvm"], compiler: "gcc 14",
            capabilities: Capabilities(config: KernelConfig(text: """
                CONFIG_KEXEC_FILE=y
                CONFIG_KEXEC_HANDOVER=y
                CONFIG_LIVEUPDATE=y
                CONFIG_LIVEUPDATE_MEMFD=y
                CONFIG_RELOCATABLE=y
                """)),
            abi: ABIStrings(byMacro: ["LUO_ABI_COMPATIBLE": "luo-v5"]), kexecLoadable: true, cmdline: [],
            builtAt: Date(timeIntervalSince1970: 1_800_000_000))
    }

    /// The pair the recorded runs in the fixtures were made with.
    public static var recordedPair: [KernelImage] {
        [image("linux-7.2", release: "7.2.13"), image("linux-7.3", release: "7.3.4")]
    }
}
