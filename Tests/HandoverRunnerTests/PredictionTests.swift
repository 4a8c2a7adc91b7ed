import Foundation
import Testing
@testable import HandoverSupport
@testable import HandoverImages
import HandoverCore


private let liveUpdateConfig = """
    CONFIG_KEXEC_FILE=y
    CONFIG_RELOCATABLE=y
    CONFIG_KEXEC_HANDOVER=y
    CONFIG_LIVEUPDATE=y
    CONFIG_LIVEUPDATE_MEMFD=y
    """

private let currentABI = ABIStrings(byMacro: [
    "KHO_FDT_COMPATIBLE": "kho-v4",
    "LUO_ABI_COMPATIBLE": "luo-v5",
    "MEMFD_LUO_FH_COMPATIBLE": "memfd-v2",
])

private func image(
    _ recipe: String, release: String, config: String, abi: ABIStrings?, kexecLoadable: Bool = true
) -> KernelImage {
    KernelImage(
        recipe: recipe,
        recipeFile: "Images/\(recipe).yaml",
        key: String(repeating: "0", count: 24),
        kernelRelease: release,
        source: KernelImage.SourceInfo(kind: "debian", package: "linux-source", packageVersion: "\(release)-1", suite: "sid"),
        baseConfig: "tinyconfig",
        fragments: ["tiny-guest", "luo"],
        compiler: "gcc 14",
        capabilities: Capabilities(config: KernelConfig(text: config)),
        abi: abi,
        kexecLoadable: kexecLoadable,
        cmdline: ["kho=on"],
        builtAt: Date(timeIntervalSince1970: 1_800_000_000)
    )
}

private let linux73 = image("linux-7.3", release: "7.3.4", config: liveUpdateConfig, abi: currentABI)
private let linux72 = image("linux-7.2", release: "7.2.13", config: liveUpdateConfig, abi: currentABI)
private let linux612 = image("linux-6.12", release: "6.12.107", config: "CONFIG_KEXEC_FILE=y\nCONFIG_RELOCATABLE=y\n",
                             abi: ABIStrings(byMacro: [:]))
private let luoV6 = image("linux-next", release: "7.4.0-rc1", config: liveUpdateConfig, abi: ABIStrings(byMacro: [
    "KHO_FDT_COMPATIBLE": "kho-v4",
    "LUO_ABI_COMPATIBLE": "luo-v6",
    "MEMFD_LUO_FH_COMPATIBLE": "memfd-v2",
]))

private let gmemABI: ABIStrings = {
    var abi = currentABI
    abi.byMacro["KVM_LUO_FH_COMPATIBLE"] = "kvm_vm_luo_v1"
    abi.byMacro["GUEST_MEMFD_LUO_FH_COMPATIBLE"] = "guest_memfd_luo_v1"
    return abi
}()
private let gmem = image("linux-7.3-gmem", release: "7.3.4", config: liveUpdateConfig + "\nCONFIG_LIVEUPDATE_GUEST_MEMFD=y\n", abi: gmemABI)
private let guestMemfdNeeds = [HandlerNeed.of(.guestMemfd)!, HandlerNeed.of(.kvmVM)]

@Suite("HandoverPrediction")
struct PredictionTests {
    @Test func seriesHandlersAreFamiliesWithUnderscores() {
        #expect(ABIStrings.family(of: "kvm_vm_luo_v1") == "kvm_vm_luo")
        #expect(ABIStrings.family(of: "guest_memfd_luo_v1") == "guest_memfd_luo")
        #expect(ABIStrings.family(of: "vfio-pci-v1") == "vfio-pci")
        #expect(gmem.capabilities.liveUpdateOptions == ["LIVEUPDATE_GUEST_MEMFD", "LIVEUPDATE_MEMFD"])
    }

    @Test func guestMemfdBetweenSeriesKernelsIsPossible() {
        let prediction = HandoverPrediction(from: gmem, to: gmem, needs: guestMemfdNeeds)
        #expect(prediction.outcome == .compatible)
        #expect(prediction.reasons.isEmpty)
    }

    @Test func guestMemfdToAKernelWithoutTheHandlersIsImpossible() {
        let prediction = HandoverPrediction(from: gmem, to: linux73, needs: guestMemfdNeeds)
        #expect(prediction.outcome == .incompatible)
        #expect(prediction.reasons.contains { $0.contains("linux-7.3 (the second kernel) has no handler for guest_memfd_luo_v1") })
        #expect(prediction.reasons.contains { $0.contains("kvm_vm_luo_v1") && $0.contains("KVM VM file") })
        // Without the scenario's needs the two differ only in families nobody asked for.
        #expect(HandoverPrediction(from: gmem, to: linux73).outcome == .compatible)
    }

    @Test func guestMemfdFromAKernelWithoutTheHandlersIsUnsupported() {
        let prediction = HandoverPrediction(from: linux73, to: gmem, needs: guestMemfdNeeds)
        #expect(prediction.outcome == .unsupported)
        #expect(prediction.reasons.contains { $0.contains("linux-7.3 (the first kernel) has no handler for guest_memfd") && $0.contains("cannot preserve") })
        #expect(!prediction.reasons.contains { $0.contains("second kernel") })
    }

    @Test func aHandlerDeclaredInTheTreeButNotBuiltDoesNotCount() {
        let headersOnly = image("linux-7.3-gmem-off", release: "7.3.4", config: liveUpdateConfig, abi: gmemABI)
        #expect(HandoverPrediction(from: headersOnly, to: gmem, needs: guestMemfdNeeds).outcome == .unsupported)
        #expect(HandoverPrediction(from: gmem, to: headersOnly, needs: guestMemfdNeeds).outcome == .incompatible)
        // An image recorded before the options were: its ABI strings decide.
        var older = headersOnly
        older.capabilities.liveUpdateOptions = nil
        #expect(HandoverPrediction(from: gmem, to: older, needs: guestMemfdNeeds).outcome == .compatible)
    }

    @Test func aChangedHandlerFormatIsImpossible() {
        var abi = gmemABI
        abi.byMacro["GUEST_MEMFD_LUO_FH_COMPATIBLE"] = "guest_memfd_luo_v2"
        let newer = image("linux-7.4-gmem", release: "7.4.0", config: liveUpdateConfig + "\nCONFIG_LIVEUPDATE_GUEST_MEMFD=y\n", abi: abi)
        let prediction = HandoverPrediction(from: gmem, to: newer, needs: guestMemfdNeeds)
        #expect(prediction.outcome == .incompatible)
        #expect(prediction.reasons == ["guest_memfd format differs: linux-7.3-gmem writes guest_memfd_luo_v1, linux-7.4-gmem reads guest_memfd_luo_v2"])
    }

    @Test func sameABIIsCompatible() {
        let prediction = HandoverPrediction(from: linux72, to: linux73)
        #expect(prediction.outcome == .compatible)
        #expect(prediction.from == "linux-7.2")
        #expect(prediction.to == "linux-7.3")
        #expect(prediction.reasons.isEmpty)
        #expect(prediction.differences.isEmpty)
        #expect(prediction.shared == ["kho-v4", "luo-v5", "memfd-v2"])
    }

    @Test func anImageCanHandOverToItself() {
        #expect(HandoverPrediction(from: linux73, to: linux73).outcome == .compatible)
    }

    @Test func kernelWithoutLiveUpdateIsIncompatible() {
        let prediction = HandoverPrediction(from: linux612, to: linux73)
        #expect(prediction.outcome == .incompatible)
        #expect(prediction.reasons.contains { $0.contains("linux-6.12") && $0.contains("LIVEUPDATE") && $0.contains("the first kernel") })
        #expect(prediction.reasons.contains { $0.contains("linux-6.12") && $0.contains("KEXEC_HANDOVER") })
        // Nothing is said against the 7.3 image's own capabilities.
        #expect(!prediction.reasons.contains { $0.hasPrefix("linux-7.3") })
        #expect(prediction.shared.isEmpty)
        #expect(Set(prediction.differences.map(\.family)) == ["kho", "luo", "memfd"])
        #expect(prediction.differences.allSatisfy { $0.from == nil && $0.to != nil })
    }

    @Test func handingBackToAnOldKernelNamesItAsTheSecond() {
        let prediction = HandoverPrediction(from: linux73, to: linux612)
        #expect(prediction.outcome == .incompatible)
        #expect(prediction.reasons.contains { $0.contains("linux-6.12 (the second kernel, 6.12.107) has no LIVEUPDATE") })
    }

    @Test func changedLUOFormatIsIncompatible() throws {
        let prediction = HandoverPrediction(from: linux73, to: luoV6)
        #expect(prediction.outcome == .incompatible)
        #expect(prediction.differences == [HandoverPrediction.Difference(family: "luo", from: "luo-v5", to: "luo-v6")])
        #expect(prediction.shared == ["kho-v4", "memfd-v2"])
        let reason = try #require(prediction.reasons.first)
        #expect(prediction.reasons.count == 1)
        #expect(reason.contains("luo format differs"))
        #expect(reason.contains("luo-v5") && reason.contains("luo-v6"))
    }

    @Test func differenceInAnotherFamilyIsReportedButNotFatal() {
        var abi = currentABI
        abi.byMacro["RESERVE_MEM_KHO_NODE_COMPATIBLE"] = "reserve-mem-v1"
        let newer = image("linux-7.3-rm", release: "7.3.5", config: liveUpdateConfig, abi: abi)
        let prediction = HandoverPrediction(from: linux73, to: newer)
        #expect(prediction.outcome == .compatible)
        #expect(prediction.differences == [HandoverPrediction.Difference(family: "reserve-mem", from: nil, to: "reserve-mem-v1")])
        #expect(prediction.reasons.isEmpty)
    }

    @Test func missingMemfdPreservation() {
        let noMemfd = image("linux-7.3-nomemfd", release: "7.3.4",
                            config: liveUpdateConfig.replacingOccurrences(of: "CONFIG_LIVEUPDATE_MEMFD=y", with: ""),
                            abi: currentABI)
        let prediction = HandoverPrediction(from: noMemfd, to: linux73)
        #expect(prediction.outcome == .incompatible)
        #expect(prediction.reasons.contains { $0.contains("LIVEUPDATE_MEMFD") && $0.contains("preserved") })
        let back = HandoverPrediction(from: linux73, to: noMemfd)
        #expect(back.reasons.contains { $0.contains("LIVEUPDATE_MEMFD") && $0.contains("taken back") })
    }

    @Test func secondKernelMustBeLoadableAbove4G() {
        let unloadable = image("linux-7.3-norelocate", release: "7.3.4", config: liveUpdateConfig, abi: currentABI,
                               kexecLoadable: false)
        let prediction = HandoverPrediction(from: linux73, to: unloadable)
        #expect(prediction.outcome == .incompatible)
        #expect(prediction.reasons.contains { $0.contains("XLF_CAN_BE_LOADED_ABOVE_4G") })
        // As the first kernel it does not need to be loadable.
        #expect(HandoverPrediction(from: unloadable, to: linux73).outcome == .compatible)
    }

    @Test func firstKernelNeedsKexecFile() {
        let noKexec = image("linux-7.3-nokexec", release: "7.3.4",
                            config: liveUpdateConfig.replacingOccurrences(of: "CONFIG_KEXEC_FILE=y", with: ""),
                            abi: currentABI)
        let prediction = HandoverPrediction(from: noKexec, to: linux73)
        #expect(prediction.outcome == .incompatible)
        #expect(prediction.reasons.contains { $0.contains("KEXEC_FILE") })
    }

    @Test func unknownABIGivesUnknown() {
        let prebuilt = image("prebuilt", release: "7.3.4", config: liveUpdateConfig, abi: nil)
        let prediction = HandoverPrediction(from: linux73, to: prebuilt)
        #expect(prediction.outcome == .unknown)
        #expect(prediction.reasons.contains { $0.contains("ABI strings unknown for prebuilt") })
        // A known incompatibility stays incompatible even when the ABI is unknown.
        #expect(HandoverPrediction(from: linux612, to: prebuilt).outcome == .incompatible)
    }

    @Test func imageJSONRoundTrip() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let decoded = try decoder.decode(KernelImage.self, from: encoder.encode(linux73))
        #expect(decoded == linux73)
        #expect(decoded.hasLiveUpdate)
        #expect(!linux612.hasLiveUpdate)
        #expect(linux73.versionLabel == "7.3.4-1")
    }
}

/// A fake bzImage start: the x86 boot header at 0x1f1 and a kernel version string.
private func fakeBzImage(
    protocolVersion: UInt16 = 0x020f, xloadflags: UInt16, version: String? = "7.3.4 (handover@handover) #1 SMP PREEMPT_DYNAMIC",
    versionOffset: Int = 0x0300, magic: [UInt8] = Array("HdrS".utf8)
) -> Data {
    var bytes = [UInt8](repeating: 0, count: 0x1000)
    func put16(_ value: UInt16, at offset: Int) {
        bytes[offset] = UInt8(value & 0xff)
        bytes[offset + 1] = UInt8(value >> 8)
    }
    bytes[0x1fe] = 0x55
    bytes[0x1ff] = 0xaa
    bytes.replaceSubrange(0x202..<0x206, with: magic)
    put16(protocolVersion, at: 0x206)
    put16(xloadflags, at: 0x236)
    if let version {
        put16(UInt16(versionOffset), at: 0x20e)
        let start = versionOffset + 0x200
        bytes.replaceSubrange(start..<(start + version.utf8.count), with: Array(version.utf8))
    }
    return Data(bytes)
}

@Suite("BzImageHeader")
struct BzImageHeaderTests {
    @Test func relocatableImage() throws {
        let header = try BzImageHeader(data: fakeBzImage(xloadflags: 0x0003))
        #expect(header.protocolVersion == 0x020f)
        #expect(header.xloadflags == 0x0003)
        #expect(header.canBeLoadedAbove4G)
        #expect(header.kernelVersion == "7.3.4 (handover@handover) #1 SMP PREEMPT_DYNAMIC")
        #expect(header.release == "7.3.4")
    }

    @Test func imageWithoutLoadAbove4G() throws {
        let header = try BzImageHeader(data: fakeBzImage(xloadflags: 0x0001))
        #expect(!header.canBeLoadedAbove4G)
        #expect(header.release == "7.3.4")
    }

    @Test func oldProtocolHasNoXloadflags() throws {
        let header = try BzImageHeader(data: fakeBzImage(protocolVersion: 0x020b, xloadflags: 0x0002))
        #expect(header.xloadflags == 0)
        #expect(!header.canBeLoadedAbove4G)
    }

    @Test func noVersionString() throws {
        let header = try BzImageHeader(data: fakeBzImage(xloadflags: 0x0002, version: nil))
        #expect(header.kernelVersion == nil)
        #expect(header.release == nil)
        #expect(header.canBeLoadedAbove4G)
    }

    @Test func versionOffsetPastTheEndIsIgnored() throws {
        var data = fakeBzImage(xloadflags: 0x0002, version: nil)
        data[0x20e] = 0x00
        data[0x20f] = 0x40  // 0x4000 + 0x200 lies beyond the 0x1000 bytes
        let header = try BzImageHeader(data: data)
        #expect(header.kernelVersion == nil)
    }

    @Test func bufferWithoutHdrSThrows() {
        #expect(throws: HarnessError.self) { try BzImageHeader(data: fakeBzImage(xloadflags: 0x0002, magic: Array("HdrX".utf8))) }
        #expect(throws: HarnessError.self) { try BzImageHeader(data: Data(repeating: 0, count: 0x1000)) }
        #expect(throws: HarnessError.self) { try BzImageHeader(data: Data()) }
        #expect(throws: HarnessError.self) { try BzImageHeader(data: Data("HdrS".utf8)) }
    }

    @Test func readsFromAFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("handover-bzimage-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        try fakeBzImage(xloadflags: 0x0002).write(to: url)
        let header = try BzImageHeader(contentsOf: url)
        #expect(header.release == "7.3.4")
        #expect(header.canBeLoadedAbove4G)
        #expect(throws: HarnessError.self) { try BzImageHeader(contentsOf: url.appendingPathExtension("missing")) }
    }
}
