import Foundation
import HandoverSupport
import HandoverImages
import HandoverRuns
import HandoverMatrix

/// libFuzzer's driver, called from this executable's own entry point: SwiftPM links
/// executables with main renamed to <Target>_main, so libFuzzer's main cannot be the entry.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt
) -> CInt

@main
struct FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, { fuzzYAML($0, $1) }))
    }
}

/// The first byte picks the parser, the rest is the document: each must parse or throw an
/// InputError, never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzYAML(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
    switch bytes[0] % 3 {
    case 0: _ = try? Scenario.parse(text: text, file: "fuzz.yaml")
    case 1: _ = try? MatrixFile.parse(text: text, file: "fuzz.yaml")
    default:
        let file = recipeFile
        if (try? Data(text.utf8).write(to: file)) != nil { _ = try? Recipe.load(from: file) }
    }
    return 0
}

/// Recipes are read from a file (their paths resolve against its folder).
let recipeFile: URL = {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-recipe-\(getpid())")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder.appendingPathComponent("fuzz.yaml")
}()
