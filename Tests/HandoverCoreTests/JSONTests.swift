import Foundation
import Testing

@testable import HandoverCore

@Suite struct JSONTests {
    @Test(arguments: [
        #"{"a":1,"b":[true,false,null],"c":"x"}"#,
        #"[]"#, #"{}"#, #""""#, "0", "-0", "1.5", "-2.25e-7", "18446744073709551615", #""\u00e9\u2713""#,
    ])
    func writtenTextParsesBackToTheSameValue(text: String) throws {
        let value = try JSON(parsing: text)
        #expect(try JSON(parsing: value.text) == value)
    }

    @Test func integersStayExactUpToUInt64Max() throws {
        let value = try JSON(parsing: "[18446744073709551615, -9223372036854775808]")
        guard case .array(let items) = value else { Issue.record("not an array"); return }
        #expect(try UInt64(json: items[0]) == .max)
        #expect(try Int64(json: items[1]) == .min)
        #expect(throws: JSONError.self) { try Int(json: items[0]) }
        #expect(throws: JSONError.self) { try Int(json: .number("1.5")) }
    }

    @Test func escapesAndSurrogatePairs() throws {
        let value = try JSON(parsing: #""q\"b\\s\/n\nt\tc\u0001 \ud83d\ude00 é""#)
        #expect(value == .string("q\"b\\s/n\nt\tc\u{01} 😀 é"))
        #expect(JSON.string("a\"\\\n\u{7f}").text == #""a\"\\\n\u007f""#)
    }

    @Test(arguments: [
        "", "{", "[1,]", #"{"a" 1}"#, #"{"a":1,}"#, "01", "1.", "-", "1e", "tru", #""\x""#, #""\ud800""#, #""\udc00x""#,
        "\"a\u{01}\"", "[1] 2", #"{"a":1}}"#,
    ])
    func malformedTextIsRefused(text: String) {
        #expect(throws: JSONError.self) { try JSON(parsing: text) }
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: JSONError.self) { try JSON(parsing: deep) }
    }

    @Test func errorsNameThePath() throws {
        let plan = try JSON(parsing: #"{"objects":[{"name":"a","size":"big"}]}"#)
        do {
            _ = try [ObjectSpec](json: plan["objects"]!)
            Issue.record("a string size was accepted")
        } catch {
            #expect(error.description.hasSuffix("at [0].size"), "\(error.description)")
        }
        do {
            _ = try Hop(json: try JSON(parsing: #"{"kernel":"k","initrd":"i","cmdline":"c"}"#))
            Issue.record("a hop without expectedRelease was accepted")
        } catch {
            #expect(error.description == "missing key 'expectedRelease'")
        }
    }

    /// The host's Codable conformances go through the mapping: JSONEncoder output and the
    /// mapping's own text are the same value, and each reads the other.
    @Test func codableAndTheMappingAgree() throws {
        let plan = AgentPlan(
            scenario: "s", scenarioDigest: "d",
            objects: [ObjectSpec(name: "a", size: 4096, fill: .sparse(seed: .max, extents: [Extent(offset: 0, length: 1)]),
                                 seals: [.futureWrite], position: 3, cloexec: true, backing: .guestMemfd)],
            sessions: [SessionSpec(name: "x", members: [.init(object: "a", token: 7), .init(handle: .kvmVM, token: 8)])],
            chunkSize: 1 << 20, hops: [Hop(kernel: "k", initrd: "i", cmdline: "c", expectedRelease: "7.3")], checks: true,
            injections: [.flipByte(object: "a", offset: 1), .corruptVCPU(stage: 2)],
            devices: DevicePlan(kvm: KVMSetup(vmType: 0), vm: GuestVMSetup(ram: "a", state: "b", runMilliseconds: 300)))
        let encoded = try JSONEncoder().encode(plan)
        #expect(try JSON(parsing: Array(encoded)) == plan.json)
        #expect(try JSONDecoder().decode(AgentPlan.self, from: Data(plan.json.text.utf8)) == plan)
        #expect(try AgentPlan(json: JSON(parsing: Array(encoded))) == plan)
    }

    /// The shapes are those Swift's synthesized Codable wrote before the mapping existed, so
    /// results and plans written by earlier versions still read.
    @Test func earlierSynthesizedShapesStillRead() throws {
        let fill = try JSONDecoder().decode([Fill].self, from: Data(#"[{"zero":{}},{"constant":{"byte":255}},{"random":{"seed":1}}]"#.utf8))
        #expect(fill == [.zero, .constant(byte: 255), .random(seed: 1)])
        let injection = try JSONDecoder().decode(Injection.self, from: Data(#"{"noInit":{"stage":2}}"#.utf8))
        #expect(injection == .noInit(stage: 2))
        let member = try JSONDecoder().decode(SessionSpec.Member.self, from: Data(#"{"object":"kvm-vm","token":3,"handle":"kvm-vm"}"#.utf8))
        #expect(member.handle == .kvmVM)
    }

    @Test func textSearch() {
        #expect("KHO: exec from: 7.2.13 (count 1)".includes("exec from:"))
        #expect(!"abc".includes("abd"))
        #expect("abc".includes(""))
        #expect("KHO: exec from: 7.2.13".text(after: "exec from:") == " 7.2.13")
        #expect("é✓x".text(after: "✓") == "x")
        #expect("abc".text(after: "z") == nil)
    }
}
