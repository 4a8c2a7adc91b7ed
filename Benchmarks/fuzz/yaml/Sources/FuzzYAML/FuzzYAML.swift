import Foundation
import HandoverRunner

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
