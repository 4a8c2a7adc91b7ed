import Foundation
import Testing
@testable import HandoverImages


@Suite("KernelConfig")
struct KernelConfigTests {
    // MARK: - Parsing

    @Test func parsesValuesAndNotSetLines() {
        let config = KernelConfig(text: """
            #
            # Automatically generated file; DO NOT EDIT.
            #
            CONFIG_64BIT=y
            CONFIG_VIRTIO_CONSOLE=m
            CONFIG_CMDLINE="console=ttyS0 kho=on"
            CONFIG_LOG_BUF_SHIFT=17
            # CONFIG_KEXEC_HANDOVER is not set
              CONFIG_INDENTED=y
            NOT_CONFIG=y
            CONFIG_NO_EQUALS
            # a comment mentioning CONFIG_OTHER
            """)
        #expect(config["64BIT"] == "y")
        #expect(config["VIRTIO_CONSOLE"] == "m")
        #expect(config["CMDLINE"] == "\"console=ttyS0 kho=on\"")
        #expect(config["LOG_BUF_SHIFT"] == "17")
        #expect(config["KEXEC_HANDOVER"] == "n")
        #expect(config["INDENTED"] == "y")
        #expect(config["NO_EQUALS"] == nil)
        #expect(config["OTHER"] == nil)
        #expect(config.order == ["64BIT", "VIRTIO_CONSOLE", "CMDLINE", "LOG_BUF_SHIFT", "KEXEC_HANDOVER", "INDENTED"])
        #expect(config.values.count == 6)
    }

    @Test func isEnabledForYAndMOnly() {
        let config = KernelConfig(text: "CONFIG_A=y\nCONFIG_B=m\nCONFIG_C=17\n# CONFIG_D is not set\n")
        #expect(config.isEnabled("A"))
        #expect(config.isEnabled("B"))
        #expect(!config.isEnabled("C"))
        #expect(!config.isEnabled("D"))
        #expect(!config.isEnabled("E"))
    }

    @Test func textRoundTrips() {
        let text = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n"
        let config = KernelConfig(text: text)
        #expect(config.text == text)
        #expect(KernelConfig(text: config.text) == config)
    }

    // MARK: - Merging

    @Test func mergeOverridesInOrder() {
        var config = KernelConfig(text: "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n")
        config.merge(KernelConfig(text: "CONFIG_B=m\nCONFIG_C=y\nCONFIG_D=y\n"))
        config.merge(KernelConfig(text: "# CONFIG_A is not set\nCONFIG_D=m\n"))
        #expect(config["A"] == "n")
        #expect(config["B"] == "m")
        #expect(config["C"] == "y")
        #expect(config["D"] == "m")
        // An option keeps the place where it first appeared.
        #expect(config.order == ["A", "B", "C", "D"])
        #expect(config.text == "# CONFIG_A is not set\nCONFIG_B=m\nCONFIG_C=y\nCONFIG_D=m\n")
    }

    @Test func laterFragmentWins() {
        var config = KernelConfig()
        config.merge(KernelConfig(text: "CONFIG_X=y\n"))
        config.merge(KernelConfig(text: "# CONFIG_X is not set\n"))
        #expect(config["X"] == "n")
        config.merge(KernelConfig(text: "CONFIG_X=m\n"))
        #expect(config["X"] == "m")
    }

    // MARK: - Verifying

    @Test func verifyReportsAnOptionThatDidNotSurvive() throws {
        let fragment = KernelConfig(text: "CONFIG_FOO=y\nCONFIG_BAR=y\n")
        let resolved = KernelConfig(text: "# CONFIG_FOO is not set\nCONFIG_BAR=y\n")
        let mismatches = KernelConfig.verify(fragments: [(name: "luo", config: fragment)], resolved: resolved,
                                             knownOptions: ["FOO", "BAR"])
        #expect(mismatches.count == 1)
        let mismatch = try #require(mismatches.first)
        #expect(mismatch.option == "FOO")
        #expect(mismatch.wanted == "y")
        #expect(mismatch.actual == "n")
        #expect(mismatch.fragment == "luo")
        #expect(mismatch.knownToKernel)
        #expect(mismatch.description.contains("CONFIG_FOO=y (from luo) did not survive olddefconfig"))
        #expect(mismatch.description.contains("says CONFIG_FOO is not set"))
    }

    @Test func verifyReportsAnAbsentOptionAndAWrongValue() throws {
        let fragment = KernelConfig(text: "CONFIG_FOO=y\nCONFIG_BAR=m\n")
        let resolved = KernelConfig(text: "CONFIG_BAR=y\n")
        let mismatches = KernelConfig.verify(fragments: [(name: "f", config: fragment)], resolved: resolved, knownOptions: nil)
        #expect(mismatches.map(\.option) == ["FOO", "BAR"])
        #expect(mismatches[0].actual == nil)
        #expect(mismatches[0].description.contains("is absent"))
        #expect(mismatches[1].actual == "y")
        #expect(mismatches[1].description.contains("says CONFIG_BAR=y ("))
        #expect(mismatches[0].description.contains("says CONFIG_FOO is absent"))
        // Without a tree to look in, every option counts as known.
        #expect(mismatches.allSatisfy { $0.knownToKernel })
    }

    @Test func verifyReportsAnOptionUnknownToTheKernel() throws {
        let fragment = KernelConfig(text: "CONFIG_LIVEUPDATE=y\nCONFIG_TTY=y\n")
        let resolved = KernelConfig(text: "CONFIG_TTY=y\n")
        let mismatches = KernelConfig.verify(fragments: [(name: "luo", config: fragment)], resolved: resolved,
                                             knownOptions: ["TTY", "KEXEC_FILE"])
        let mismatch = try #require(mismatches.first)
        #expect(mismatches.count == 1)
        #expect(mismatch.option == "LIVEUPDATE")
        #expect(!mismatch.knownToKernel)
        #expect(mismatch.description.contains("not an option this kernel knows"))
        #expect(mismatch.description.contains("no Kconfig file defines LIVEUPDATE"))
        #expect(!mismatch.description.contains("did not survive"))
    }

    @Test func disabledInAFragmentIsSatisfiedByAbsenceOrNotSet() {
        let fragment = KernelConfig(text: "CONFIG_A=n\n# CONFIG_B is not set\n# CONFIG_C is not set\n")
        let resolved = KernelConfig(text: "# CONFIG_B is not set\n")
        #expect(fragment["A"] == "n")
        let ok = KernelConfig.verify(fragments: [(name: "f", config: fragment)], resolved: resolved, knownOptions: [])
        #expect(ok.isEmpty)

        let enabled = KernelConfig(text: "CONFIG_C=y\n")
        let bad = KernelConfig.verify(fragments: [(name: "f", config: fragment)], resolved: enabled, knownOptions: nil)
        #expect(bad.map(\.option) == ["C"])
        #expect(bad.first?.wanted == "n")
    }

    @Test func verifyNamesTheFragmentOfEachMismatch() {
        let one = KernelConfig(text: "CONFIG_A=y\n")
        let two = KernelConfig(text: "CONFIG_B=y\n")
        let resolved = KernelConfig(text: "CONFIG_A=y\n")
        let mismatches = KernelConfig.verify(fragments: [(name: "one", config: one), (name: "two", config: two)],
                                             resolved: resolved, knownOptions: nil)
        #expect(mismatches.map(\.fragment) == ["two"])
        #expect(mismatches.map(\.option) == ["B"])
    }

    // MARK: - Kconfig options of a tree

    @Test func knownOptionsFindsConfigAndMenuconfigLines() throws {
        let fm = FileManager.default
        let tree = fm.temporaryDirectory.appendingPathComponent("handover-kconfig-tests-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: tree) }
        func write(_ relative: String, _ text: String) throws {
            let url = tree.appendingPathComponent(relative)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        try write("Kconfig", "mainmenu \"Linux/$(ARCH) Kernel Configuration\"\n\nsource \"kernel/Kconfig\"\n")
        try write("kernel/Kconfig", """
            menuconfig LIVEUPDATE
            \tbool "Live Update Orchestrator"
            \tdepends on KEXEC_HANDOVER

            config LIVEUPDATE_MEMFD
            \tbool "memfd preservation"
            \tdepends on LIVEUPDATE

            if LIVEUPDATE
            endif
            """)
        try write("kernel/Kconfig.kexec", "config\tKEXEC_HANDOVER\n\tbool \"KHO\"\nconfig KEXEC_FILE\n\tbool\n")
        try write("arch/x86/Kconfig", "config X86\n\tdef_bool y\n")
        try write("Makefile", "config NOT_IN_A_KCONFIG_FILE\n")
        try write("Documentation/Kconfig", "config DOC_ONLY\n")
        try write("tools/Kconfig", "config TOOLS_ONLY\n")

        let names = KernelConfig.knownOptions(inTree: tree)
        #expect(names == ["LIVEUPDATE", "LIVEUPDATE_MEMFD", "KEXEC_HANDOVER", "KEXEC_FILE", "X86"])
    }

    @Test func knownOptionsOfAMissingTreeIsEmpty() {
        let nowhere = URL(fileURLWithPath: "/nonexistent-handover-tree-\(UUID().uuidString)")
        #expect(KernelConfig.knownOptions(inTree: nowhere).isEmpty)
    }

    // MARK: - Capabilities

    @Test func capabilitiesOfALiveUpdateConfig() {
        let caps = Capabilities(config: KernelConfig(text: """
            CONFIG_KEXEC_FILE=y
            CONFIG_RELOCATABLE=y
            CONFIG_KEXEC_HANDOVER=y
            CONFIG_LIVEUPDATE=y
            CONFIG_LIVEUPDATE_MEMFD=m
            # CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT is not set
            """))
        #expect(caps.kexecFile)
        #expect(caps.relocatable)
        #expect(caps.kexecHandover)
        #expect(caps.liveUpdate)
        #expect(caps.memfdPreservation)
        #expect(!caps.khoEnabledByDefault)
        #expect(caps.canKexec)
        #expect(caps.canBeKexecTarget)
    }

    @Test func capabilitiesOfAnOldConfig() {
        let caps = Capabilities(config: KernelConfig(text: "CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT=y\n# CONFIG_RELOCATABLE is not set\n"))
        #expect(!caps.kexecFile)
        #expect(!caps.relocatable)
        #expect(!caps.kexecHandover)
        #expect(!caps.liveUpdate)
        #expect(!caps.memfdPreservation)
        #expect(caps.khoEnabledByDefault)
        #expect(!caps.canKexec)
        #expect(!caps.canBeKexecTarget)
    }

    @Test func realFragmentsAskForLiveUpdate() throws {
        let fragments = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Images/fragments")
        var merged = KernelConfig()
        for name in ["tiny-guest", "luo"] {
            let text = try String(contentsOf: fragments.appendingPathComponent("\(name).config"), encoding: .utf8)
            merged.merge(KernelConfig(text: text))
        }
        let caps = Capabilities(config: merged)
        #expect(caps.kexecFile && caps.relocatable && caps.kexecHandover && caps.liveUpdate && caps.memfdPreservation)
        #expect(merged["TTY"] == "y")
    }
}
