// libFuzzer target: the KTAP parser (built with KTAPParser.swift by fuzz.sh). Never traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKTAP(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    _ = KTAPParser.parse(text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
    return 0
}
