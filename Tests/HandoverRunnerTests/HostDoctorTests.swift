import Foundation
import Testing
@testable import HandoverMachines

@Suite("handover doctor")
struct HostDoctorTests {
    @Test("versions are read from the tools' own banners")
    func versions() {
        let qemu = HostDoctor.version(in: "QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright", after: "QEMU emulator version ")
        #expect(qemu?.major == 7 && qemu?.minor == 2)
        let swift = HostDoctor.version(in: "Swift version 6.3.1 (swift-6.3.1-RELEASE)\nTarget: x86_64-unknown-linux-gnu", after: "Swift version ")
        #expect(swift?.major == 6 && swift?.minor == 3)
        #expect(HostDoctor.version(in: "QEMU emulator version seven", after: "QEMU emulator version ") == nil)
        #expect(HostDoctor.version(in: "something else", after: "Swift version ") == nil)
    }
}
