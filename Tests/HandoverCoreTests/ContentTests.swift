import Foundation
import Testing

@testable import HandoverCore

/// The agent's SHA-256 against coreutils' sha256sum, and the fill stream's definition.
@Suite("Content digests and fills")
struct ContentTests {
    static func sha256sum(_ bytes: [UInt8]) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("digest-\(UUID().uuidString).bin")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return String(output.prefix(64))
    }

    @Test("SHA-256 of lengths around every padding boundary, fed whole and in uneven pieces", arguments: [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 4099])
    func sha256MatchesCoreutils(length: Int) throws {
        var bytes = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeMutableBytes { FillStream(seed: UInt64(length)).write(offset: 3, into: $0) }
        let reference = try Self.sha256sum(bytes)
        #expect(bytes.withUnsafeBytes { SHA256Digester.hex(of: $0) } == reference)
        var digester = SHA256Digester()
        var offset = 0
        var piece = 1
        while offset < length {
            let end = min(length, offset + piece)
            bytes[offset..<end].withUnsafeBytes { digester.update($0) }
            offset = end
            piece = piece * 3 + 1
        }
        #expect(SHA256Digester.hexString(digester.finish()) == reference)
    }

    @Test func theFillStreamIsTheSameFromAnyOffset() {
        let spec = ObjectSpec(name: "o", size: 4096, fill: .random(seed: 41))
        var whole = [UInt8](repeating: 0, count: 4096)
        whole.withUnsafeMutableBytes { spec.expected(offset: 0, into: $0) }
        for start in [1, 7, 8, 13, 4000] {
            var part = [UInt8](repeating: 0, count: 4096 - start)
            part.withUnsafeMutableBytes { spec.expected(offset: start, into: $0) }
            #expect(part == Array(whole[start...]), "from offset \(start)")
        }
        #expect(Set(whole).count > 200)
    }

    @Test func sparseFillsOnlyItsExtents() {
        let spec = ObjectSpec(name: "o", size: 64, fill: .sparse(seed: 1, extents: [Extent(offset: 10, length: 5)]))
        var bytes = [UInt8](repeating: 0xff, count: 64)
        bytes.withUnsafeMutableBytes { spec.expected(offset: 0, into: $0) }
        var random = [UInt8](repeating: 0, count: 5)
        random.withUnsafeMutableBytes { FillStream(seed: 1).write(offset: 10, into: $0) }
        #expect(Array(bytes[10..<15]) == random)
        #expect(bytes[0..<10].allSatisfy { $0 == 0 } && bytes[15...].allSatisfy { $0 == 0 })
    }
}
