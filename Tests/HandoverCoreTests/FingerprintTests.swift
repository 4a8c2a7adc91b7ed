import Foundation
import Testing

@testable import HandoverCore

/// A 10000-byte object in 4096-byte chunks: three chunks, the last one short.
private func fingerprint(size: Int = 10_000, position: Int = 17, seals: Int32 = Seal.mask([.shrink, .grow]),
                         statusFlags: Int32 = 0x8002, cloexec: Bool = false, chunkSize: Int = 4096,
                         chunks: [String] = ["c0", "c1", "c2"]) -> ObjectFingerprint {
    ObjectFingerprint(object: "obj", session: "s", token: 7, size: size, position: position, seals: seals,
                      statusFlags: statusFlags, cloexec: cloexec, chunkSize: chunkSize, chunks: chunks)
}

private func outcome(_ outcomes: [PropertyOutcome], _ property: String) -> PropertyOutcome? {
    outcomes.first { $0.property == property }
}

@Suite struct FingerprintTests {
    @Test func identicalFingerprintsArePreserved() throws {
        let outcomes = FingerprintComparison.compare(before: fingerprint(), after: fingerprint())
        #expect(outcomes.map(\.property) == ["size", "position", "seals", "status-flags", "cloexec", "content"])
        for name in ["size", "position", "seals", "status-flags", "content"] {
            #expect(outcome(outcomes, name)?.status == .preserved, "\(name)")
        }
        // FD_CLOEXEC is documented as reset: keeping it is worth a note, not "preserved".
        #expect(outcome(outcomes, "cloexec")?.status == .unexpectedlyPreserved)
        #expect(!outcomes.contains { $0.status == .changed })

        let content = try #require(outcome(outcomes, "content"))
        #expect(content.before == "3 chunks")
        #expect(content.after == "3 chunks")
        #expect(content.chunk == nil)
        #expect(outcome(outcomes, "size")?.before == "10000")
        #expect(outcome(outcomes, "position")?.after == "17")
        #expect(outcome(outcomes, "seals")?.before == "shrink|grow")
        #expect(outcome(outcomes, "status-flags")?.before == "0x8002")
        #expect(outcome(outcomes, "cloexec")?.before == "false")
    }

    @Test func cloexecThatChangedIsReset() {
        let outcomes = FingerprintComparison.compare(before: fingerprint(cloexec: true), after: fingerprint(cloexec: false))
        let cloexec = outcome(outcomes, "cloexec")
        #expect(cloexec?.status == .reset)
        #expect(cloexec?.before == "true")
        #expect(cloexec?.after == "false")
        #expect(!outcomes.contains { $0.status == .changed })
    }

    @Test func resetSetIsHonoured() {
        // Without cloexec in the reset set, it is an ordinary property.
        let same = FingerprintComparison.compare(before: fingerprint(), after: fingerprint(), reset: [])
        #expect(outcome(same, "cloexec")?.status == .preserved)
        let different = FingerprintComparison.compare(before: fingerprint(cloexec: true), after: fingerprint(), reset: [])
        #expect(outcome(different, "cloexec")?.status == .changed)
        // And a scenario may declare position reset.
        let moved = FingerprintComparison.compare(before: fingerprint(position: 1), after: fingerprint(position: 0),
                                                  reset: ["cloexec", "position"])
        #expect(outcome(moved, "position")?.status == .reset)
        #expect(!moved.contains { $0.status == .changed })
        #expect(FingerprintComparison.documentedReset == ["cloexec"])
    }

    @Test func contentDeclaredResetIsReportedAsResetNotCompared() {
        let changed = FingerprintComparison.compare(before: fingerprint(), after: fingerprint(chunks: ["x0", "c1", "c2"]), reset: ["content"])
        #expect(changed.filter { $0.property == "content" }.map(\.status) == [.reset])
        #expect(!changed.contains { $0.status == .changed })
        let same = FingerprintComparison.compare(before: fingerprint(), after: fingerprint(), reset: ["content"])
        #expect(outcome(same, "content")?.status == .unexpectedlyPreserved)
        let compared = FingerprintComparison.compare(before: fingerprint(), after: fingerprint(chunks: ["x0", "c1", "c2"]))
        #expect(outcome(compared, "content")?.status == .changed)
    }

    @Test func changedChunkIsLocated() throws {
        let outcomes = FingerprintComparison.compare(before: fingerprint(), after: fingerprint(chunks: ["c0", "XX", "c2"]))
        let content = outcomes.filter { $0.property == "content" }
        #expect(content.count == 1)
        let changed = try #require(content.first)
        #expect(changed.status == .changed)
        #expect(changed.chunk == 1)
        #expect(changed.before == "c1")
        #expect(changed.after == "XX")
        #expect(changed.detail == "chunk 1 (bytes 4096..<8192) differs")
        #expect(outcome(outcomes, "size")?.status == .preserved)
    }

    @Test func shortLastChunkRangeEndsAtTheSize() throws {
        let outcomes = FingerprintComparison.compare(before: fingerprint(), after: fingerprint(chunks: ["c0", "c1", "YY"]))
        let changed = try #require(outcomes.first { $0.property == "content" })
        #expect(changed.chunk == 2)
        #expect(changed.detail?.contains("bytes 8192..<10000") == true, "\(changed.detail ?? "")")
    }

    @Test func everyChangedChunkIsReported() {
        let outcomes = FingerprintComparison.compare(before: fingerprint(), after: fingerprint(chunks: ["X0", "c1", "X2"]))
        let content = outcomes.filter { $0.property == "content" }
        #expect(content.map(\.chunk) == [0, 2])
        #expect(content.allSatisfy { $0.status == .changed })
        #expect(content.first?.detail == "chunk 0 (bytes 0..<4096) differs")
    }

    @Test(arguments: [
        ("size", fingerprint(size: 9_999)),
        ("position", fingerprint(position: 0)),
        ("seals", fingerprint(seals: Seal.mask([.shrink, .grow, .write]))),
        ("status-flags", fingerprint(statusFlags: 0x0002)),
    ])
    func propertyChangesAreChanged(_ property: String, _ after: ObjectFingerprint) throws {
        let outcomes = FingerprintComparison.compare(before: fingerprint(), after: after)
        let changed = outcomes.filter { $0.status == .changed }
        #expect(changed.map(\.property) == [property])
        let entry = try #require(changed.first)
        #expect(entry.before != entry.after)
    }

    @Test func sealAndFlagValuesAreReadable() {
        let outcomes = FingerprintComparison.compare(before: fingerprint(seals: 0, statusFlags: -1),
                                                     after: fingerprint(seals: Seal.mask([.write, .seal]), statusFlags: 0x8000))
        #expect(outcome(outcomes, "seals")?.before == "none")
        #expect(outcome(outcomes, "seals")?.after == "seal|write")
        #expect(outcome(outcomes, "status-flags")?.before == "0xffffffff")
        #expect(outcome(outcomes, "status-flags")?.after == "0x8000")
    }

    @Test func missingChunksAreReported() {
        let outcomes = FingerprintComparison.compare(before: fingerprint(), after: fingerprint(chunks: ["c0"]))
        let content = outcomes.filter { $0.property == "content" }
        #expect(content.map(\.chunk) == [1, 2])
        #expect(content.allSatisfy { $0.status == .changed && $0.after == "absent" })
        #expect(content.map(\.before) == ["c1", "c2"])
    }

    @Test func extraChunksAreReported() {
        let after = fingerprint(size: 13_000, chunks: ["c0", "c1", "c2", "c3"])
        let outcomes = FingerprintComparison.compare(before: fingerprint(), after: after)
        #expect(outcome(outcomes, "size")?.status == .changed)
        let content = outcomes.filter { $0.property == "content" }
        #expect(content.count == 1)
        #expect(content.first?.chunk == 3)
        #expect(content.first?.before == "absent")
        #expect(content.first?.after == "c3")
        #expect(content.first?.status == .changed)
        #expect(content.first?.detail == "chunk 3 (bytes 12288..<13000) differs")
    }

    @Test func emptyObjectsCompareAsPreserved() {
        let empty = fingerprint(size: 0, position: 0, chunks: [])
        let outcomes = FingerprintComparison.compare(before: empty, after: empty)
        #expect(outcome(outcomes, "content")?.status == .preserved)
        #expect(outcome(outcomes, "content")?.before == "0 chunks")
    }

    @Test func sealNames() {
        #expect(FingerprintComparison.sealNames(0) == "none")
        #expect(FingerprintComparison.sealNames(0x1) == "seal")
        #expect(FingerprintComparison.sealNames(0x10) == "future-write")
        #expect(FingerprintComparison.sealNames(Seal.mask([.shrink, .grow, .write])) == "shrink|grow|write")
        // The order is the kernel's bit order, not the order given.
        #expect(FingerprintComparison.sealNames(Seal.mask([.write, .shrink, .seal])) == "seal|shrink|write")
        #expect(FingerprintComparison.sealNames(0x1f) == "seal|shrink|grow|write|future-write")
        // Unknown bits are not named.
        #expect(FingerprintComparison.sealNames(0x20) == "none")
        #expect(FingerprintComparison.sealNames(0x28) == "write")
    }
}

extension FingerprintTests {
    @Suite struct SealTests {
        @Test func bits() {
            #expect(Seal.seal.bit == 0x1)
            #expect(Seal.shrink.bit == 0x2)
            #expect(Seal.grow.bit == 0x4)
            #expect(Seal.write.bit == 0x8)
            #expect(Seal.futureWrite.bit == 0x10)
        }

        @Test func masks() {
            #expect(Seal.mask([]) == 0)
            #expect(Seal.mask([.seal]) == 1)
            #expect(Seal.mask([.shrink]) == 2)
            #expect(Seal.mask([.grow]) == 4)
            #expect(Seal.mask([.write]) == 8)
            #expect(Seal.mask([.futureWrite]) == 0x10)
            #expect(Seal.mask([.shrink, .grow, .write]) == 0xe)
            #expect(Seal.mask(Seal.allCases) == 0x1f)
            #expect(Seal.mask([.write, .write]) == 8)
        }

        @Test func rawValuesAreTheScenarioWords() {
            #expect(Seal.allCases.map(\.rawValue) == ["seal", "shrink", "grow", "write", "future-write"])
        }
    }
}

extension FingerprintTests {
    @Suite struct StatisticsTests {
        private func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-9 }

        @Test func fourValues() throws {
            let stats = try #require(Statistics([4, 1, 3, 2]))
            #expect(stats.count == 4)
            #expect(stats.min == 1)
            #expect(stats.max == 4)
            #expect(close(stats.median, 2.5))
            #expect(close(stats.mean, 2.5))
            // 0.95 * 3 = 2.85: between 3 and 4.
            #expect(close(stats.p95, 3.85), "\(stats.p95)")
            // Sample standard deviation sqrt(5/3) over the mean.
            #expect(close(stats.coefficientOfVariation, (5.0 / 3.0).squareRoot() / 2.5), "\(stats.coefficientOfVariation)")
        }

        @Test func oddCountMedianIsTheMiddle() throws {
            let stats = try #require(Statistics([9, 1, 5]))
            #expect(stats.median == 5)
            #expect(close(stats.p95, 8.6), "\(stats.p95)") // 0.95 * 2 = 1.9 → 5 + 0.9 * 4
        }

        @Test func twentyValues() throws {
            let stats = try #require(Statistics((1...20).map { Double($0 * 10) }))
            #expect(close(stats.median, 105))
            #expect(close(stats.p95, 190.5), "\(stats.p95)") // 0.95 * 19 = 18.05
            #expect(stats.min == 10)
            #expect(stats.max == 200)
        }

        @Test func singleValue() throws {
            let stats = try #require(Statistics([0.042]))
            #expect(stats.count == 1)
            #expect(stats.min == 0.042)
            #expect(stats.median == 0.042)
            #expect(stats.p95 == 0.042)
            #expect(stats.max == 0.042)
            #expect(stats.mean == 0.042)
            #expect(stats.coefficientOfVariation == 0)
        }

        @Test func equalValuesHaveNoVariation() throws {
            let stats = try #require(Statistics([5, 5, 5, 5]))
            #expect(stats.coefficientOfVariation == 0)
            #expect(stats.median == 5)
            #expect(stats.p95 == 5)
            let zeros = try #require(Statistics([0, 0]))
            #expect(zeros.coefficientOfVariation == 0)
            #expect(!zeros.coefficientOfVariation.isNaN)
        }

        @Test func emptyIsNil() {
            #expect(Statistics([]) == nil)
        }

        @Test func quantileEndpoints() {
            #expect(Statistics.quantile([1, 2, 3], 0) == 1)
            #expect(Statistics.quantile([1, 2, 3], 1) == 3)
            #expect(Statistics.quantile([7], 0.95) == 7)
        }
    }
}

extension FingerprintTests {
    @Suite struct VerdictTests {
        @Test func ordering() {
            #expect(Verdict.pass < .unsupported)
            #expect(Verdict.unsupported < .fail)
            #expect(Verdict.fail < .error)
            #expect(!(Verdict.error < .pass))
            #expect(!(Verdict.fail < .fail))
            #expect([Verdict.error, .pass, .fail, .unsupported].sorted() == [.pass, .unsupported, .fail, .error])
            #expect([Verdict.pass, .fail, .unsupported].max() == .fail)
        }

        @Test func rawValues() {
            #expect(Verdict.pass.rawValue == "pass")
            #expect(Verdict.unsupported.rawValue == "unsupported")
            #expect(FailureClass.abiIncompatible.rawValue == "abi-incompatible")
            #expect(FailureClass.stateMismatch.rawValue == "state-mismatch")
        }
    }
}

extension FingerprintTests {
    @Suite struct AgentPlanCodingTests {
        static let plan = AgentPlan(
            scenario: "memfd-properties", scenarioDigest: String(repeating: "ab", count: 32),
            objects: [
                ObjectSpec(name: "zeroed", size: 1 << 20, fill: .zero),
                ObjectSpec(name: "constant", size: 4096, fill: .constant(byte: 0x5a), cloexec: true),
                ObjectSpec(name: "random", size: 65_536, fill: .random(seed: UInt64.max - 1), seals: [.shrink, .grow, .write],
                           position: 123_457),
                ObjectSpec(name: "sparse", size: 16 << 20,
                           fill: .sparse(seed: 14, extents: [Extent(offset: 0, length: 4096), Extent(offset: 9 << 20, length: 8192)]),
                           seals: Seal.allCases),
                ObjectSpec(name: "empty", size: 0, fill: .zero),
                ObjectSpec(name: "empty-sparse", size: 4096, fill: .sparse(seed: 0, extents: [])),
            ],
            sessions: [SessionSpec(name: "vm-properties", members: [.init(object: "zeroed", token: 1),
                                                                     .init(object: "constant", token: UInt64(Int.max))]),
                       SessionSpec(name: "second", members: [.init(object: "random", token: 0), .init(object: "sparse", token: 2),
                                                              .init(object: "empty", token: 3), .init(object: "empty-sparse", token: 4)])],
            chunkSize: 1 << 20,
            hops: [Hop(kernel: "/handover/hop-1/bzImage", initrd: "/handover/hop-1/initrd.cpio",
                       cmdline: "console=ttyS0 handover.stage=2", expectedRelease: "7.3.0")],
            checks: true,
            injections: [.flipByte(object: "random", offset: 4095), .crash(stage: 2)])

        @Test func jsonRoundTrip() throws {
            let data = try JSONEncoder().encode(Self.plan)
            let decoded = try JSONDecoder().decode(AgentPlan.self, from: data)
            #expect(decoded == Self.plan)
        }

        @Test func protocolLineRoundTrip() throws {
            let line = ProtocolLine.encode(Self.plan)
            #expect(try ProtocolLine.decode(AgentPlan.self, from: line) == Self.plan)
            #expect(ProtocolLine.encode(try ProtocolLine.decode(AgentPlan.self, from: line)) == line)
        }

        @Test(arguments: [Fill.zero, .constant(byte: 0), .constant(byte: 255), .random(seed: 0), .random(seed: UInt64.max),
                          .sparse(seed: 1, extents: [Extent(offset: 4096, length: 1)])])
        func everyFillRoundTrips(_ fill: Fill) throws {
            let data = try JSONEncoder().encode(fill)
            #expect(try JSONDecoder().decode(Fill.self, from: data) == fill)
        }

        @Test(arguments: [Injection.flipByte(object: "a b", offset: 0), .flipByte(object: "x", offset: Int.max), .crash(stage: 1),
                          .crash(stage: 2)])
        func everyInjectionRoundTrips(_ injection: Injection) throws {
            let data = try JSONEncoder().encode(injection)
            #expect(try JSONDecoder().decode(Injection.self, from: data) == injection)
        }

        @Test func distinctFillsDoNotDecodeAsEachOther() throws {
            let fills: [Fill] = [.zero, .constant(byte: 1), .random(seed: 1), .sparse(seed: 1, extents: [])]
            let encoded = try fills.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
            #expect(Set(encoded).count == fills.count)
        }

        @Test func lookupByName() {
            #expect(Self.plan.object(named: "sparse")?.size == 16 << 20)
            #expect(Self.plan.object(named: "missing") == nil)
        }
    }
}
