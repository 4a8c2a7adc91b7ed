import Foundation
import Testing
@testable import HandoverMachines

@Suite struct InitramfsTests {
    // MARK: - Round trip through the real cpio

    @Test func roundTripThroughCpio() throws {
        let scratch = try Scratch()
        let random = Self.pseudoRandomBytes(count: 3 * 1024 * 1024 + 5, seed: 0x5EED)
        let bigFile = scratch.url.appendingPathComponent("big.bin")
        try random.write(to: bigFile)
        let small = Data("hello from the initramfs\n".utf8)

        var archive = Initramfs()
        archive.addStandardNodes()
        archive.addDirectory("etc")
        archive.addFile("/etc/motd", data: small)
        archive.addFile("usr/lib/big.bin", from: bigFile, mode: 0o600)
        archive.addFile("init", data: Data("#!/bin/sh\n".utf8), mode: 0o755)
        archive.addFile("empty", data: Data())
        archive.addSymlink("bin/sh", target: "../init")

        let image = scratch.url.appendingPathComponent("out/initramfs.cpio")
        try archive.write(to: image)

        // Listing.
        let listing = try Self.run("/usr/bin/cpio", ["-t", "--quiet", "-F", image.path])
        #expect(listing.status == 0, "cpio -t failed: \(listing.stderr)")
        let listed = Set(listing.stdout.split(separator: "\n").map(String.init))
        let expected: Set<String> = [
            "dev", "proc", "sys", "tmp", "run",
            "dev/console", "dev/null", "dev/ttyS0", "dev/kmsg",
            "etc", "etc/motd", "usr", "usr/lib", "usr/lib/big.bin", "init", "empty", "bin", "bin/sh",
        ]
        #expect(listed == expected)
        #expect(Set(archive.entries.map(\.path)) == expected)

        // Extraction.
        let root = scratch.url.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let extract = try Self.run("/usr/bin/cpio", ["-idm", "--quiet", "--no-absolute-filenames", "-F", image.path],
                                   in: root)
        if extract.status != 0 {
            // Only device nodes may fail (mknod needs privileges this environment may lack).
            let problems = extract.stderr.split(separator: "\n").filter { !$0.contains("dev/") }
            #expect(problems.isEmpty, "cpio -i failed: \(extract.stderr)")
        }
        #expect(try Data(contentsOf: root.appendingPathComponent("etc/motd")) == small)
        #expect(try Data(contentsOf: root.appendingPathComponent("usr/lib/big.bin")) == random)
        #expect(try Data(contentsOf: root.appendingPathComponent("empty")).isEmpty)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root.appendingPathComponent("bin/sh").path)
            == "../init")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("proc").path,
                                               isDirectory: &isDirectory) && isDirectory.boolValue)

        let devices: [(String, UInt32, UInt32)] = [
            ("dev/console", 5, 1), ("dev/null", 1, 3), ("dev/ttyS0", 4, 64), ("dev/kmsg", 1, 11),
        ]
        for (path, major, minor) in devices {
            var info = stat()
            guard lstat(root.appendingPathComponent(path).path, &info) == 0 else {
                continue  // mknod failed: nothing to compare.
            }
            #expect(info.st_mode & S_IFMT == S_IFCHR, "\(path) is not a character device")
            let rdev = UInt64(info.st_rdev)
            let gotMajor = UInt32(((rdev >> 8) & 0xFFF) | ((rdev >> 32) & ~UInt64(0xFFF)))
            let gotMinor = UInt32((rdev & 0xFF) | ((rdev >> 12) & ~UInt64(0xFF)))
            #expect(gotMajor == major && gotMinor == minor, "\(path) is \(gotMajor),\(gotMinor)")
        }
    }

    // MARK: - Parents, duplicates, paths

    @Test func implicitParentsAppearOnceBeforeChildren() throws {
        var archive = Initramfs()
        archive.addFile("a/b/c", data: Data("c".utf8))
        archive.addFile("/a/b/d", data: Data("d".utf8))
        archive.addSymlink("a//x/./link", target: "/a/b/c")
        archive.addDirectory("a", mode: 0o700)  // replaces the implicit one, in place

        #expect(archive.entries.map(\.path) == ["a", "a/b", "a/b/c", "a/b/d", "a/x", "a/x/link"])
        #expect(archive.entries[0] == .directory(path: "a", mode: 0o700))
        #expect(archive.entries[1] == .directory(path: "a/b", mode: 0o755))

        let members = try Self.parse(Self.bytes(of: archive))
        let names = members.map(\.name)
        #expect(names == ["a", "a/b", "a/b/c", "a/b/d", "a/x", "a/x/link", "TRAILER!!!"])
        #expect(Set(names).count == names.count)
        for (index, name) in names.enumerated() where name.contains("/") {
            let parent = String(name[..<name.lastIndex(of: "/")!])
            let parentIndex = try #require(names.firstIndex(of: parent))
            #expect(parentIndex < index)
            #expect(members[parentIndex].mode & 0o170000 == 0o040000)
        }
    }

    @Test func duplicatePathLastOneWinsInPlace() throws {
        var archive = Initramfs()
        archive.addFile("etc/one", data: Data("first".utf8))
        archive.addFile("etc/two", data: Data("two".utf8))
        archive.addFile("etc/one", data: Data("second".utf8), mode: 0o600)

        #expect(archive.entries.map(\.path) == ["etc", "etc/one", "etc/two"])
        let members = try Self.parse(Self.bytes(of: archive))
        let one = try #require(members.first { $0.name == "etc/one" })
        #expect(one.data == Data("second".utf8))
        #expect(one.mode == 0o100600)
        #expect(members.map(\.ino) == [1, 2, 3, 0])
    }

    // MARK: - Format

    @Test func sameEntriesGiveIdenticalBytes() throws {
        let scratch = try Scratch()
        let source = scratch.url.appendingPathComponent("payload")
        try Self.pseudoRandomBytes(count: 70_001, seed: 7).write(to: source)

        func build() -> Initramfs {
            var archive = Initramfs()
            archive.addStandardNodes()
            archive.addFile("init", from: source, mode: 0o755)
            archive.addFile("etc/config", data: Data("k=v\n".utf8))
            archive.addSymlink("sbin/init", target: "/init")
            return archive
        }
        let first = scratch.url.appendingPathComponent("first.cpio")
        let second = scratch.url.appendingPathComponent("second.cpio")
        try build().write(to: first)
        try build().write(to: second)
        let bytes = try Data(contentsOf: first)
        #expect(bytes == (try Data(contentsOf: second)))

        // Writing again over an existing archive replaces it, leaving no temporary files behind.
        try build().write(to: first)
        #expect(try Data(contentsOf: first) == bytes)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path)
            .filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)

        for member in try Self.parse(bytes) {
            #expect(member.mtime == 0 && member.uid == 0 && member.gid == 0)
        }
    }

    @Test func everyHeaderStartsOnFourByteBoundary() throws {
        var archive = Initramfs()
        // Names and sizes of every length modulo 4, so each padding case occurs.
        for nameLength in 1...8 {
            for size in 0...7 {
                let name = "d\(nameLength)/" + String(repeating: "n", count: nameLength) + "\(size)"
                archive.addFile(name, data: Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ nameLength) }))
            }
        }
        archive.addSymlink("l", target: "abc")
        archive.addSymlink("link5", target: "abcde")
        archive.addCharacterDevice("dev/ttyS0", major: 4, minor: 64)

        let bytes = try Self.bytes(of: archive)
        let members = try Self.parse(bytes)
        #expect(bytes.count % 4 == 0)
        for member in members {
            #expect(member.offset % 4 == 0, "\(member.name) starts at \(member.offset)")
        }
        #expect(members.last?.name == "TRAILER!!!")
        #expect(members.map(\.ino).dropLast() == Array(1...UInt32(members.count - 1)))

        for member in members where member.name.hasPrefix("d") && member.name != "dev" && member.name.contains("/") {
            let size = Int(String(member.name.last!))!
            let nameLength = member.name.split(separator: "/")[1].count - 1
            #expect(member.data == Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ nameLength) }))
            #expect(member.nlink == 1)
        }
        let link = try #require(members.first { $0.name == "link5" })
        #expect(link.mode == 0o120777 && link.filesize == 5 && link.data == Data("abcde".utf8))
        let tty = try #require(members.first { $0.name == "dev/ttyS0" })
        #expect(tty.mode == 0o020600 && tty.rdevmajor == 4 && tty.rdevminor == 64 && tty.filesize == 0)
        let dev = try #require(members.first { $0.name == "dev" })
        #expect(dev.mode == 0o040755 && dev.nlink == 2)
    }

    // MARK: - Errors

    @Test func dotDotAndEmptyPathsAreRejected() throws {
        let scratch = try Scratch()
        let target = scratch.url.appendingPathComponent("bad.cpio")

        for bad in ["../etc/passwd", "a/../../b", "usr/..", "", "/", "./."] {
            var archive = Initramfs()
            archive.addDirectory("ok")
            archive.addFile(bad, data: Data("x".utf8))
            let error = try #require(throws: InitramfsError.self) { try archive.write(to: target) }
            #expect(error.kind == .invalidPath, "\(bad): \(error)")
            #expect(error.description.contains(Initramfs.normalise(bad).isEmpty ? "empty" : Initramfs.normalise(bad)))
            #expect(!FileManager.default.fileExists(atPath: target.path))
        }
        // ".." is rejected before any parent directory is invented for it.
        var archive = Initramfs()
        archive.addSymlink("x/../y", target: "z")
        #expect(archive.entries.map(\.path) == ["x/../y"])
    }

    @Test func fileTooLargeForNewcIsRejected() throws {
        let scratch = try Scratch()
        let huge = scratch.url.appendingPathComponent("huge")
        // A sparse file: 4 GiB of size, no disk blocks.
        #expect(FileManager.default.createFile(atPath: huge.path, contents: nil))
        let handle = try FileHandle(forWritingTo: huge)
        try handle.truncate(atOffset: 1 << 32)
        try handle.close()

        var archive = Initramfs()
        archive.addFile("boot/huge.img", from: huge)
        let target = scratch.url.appendingPathComponent("huge.cpio")
        let error = try #require(throws: InitramfsError.self) { try archive.write(to: target) }
        #expect(error.kind == .fileTooLarge)
        #expect(error.description.contains("boot/huge.img"))
        #expect(!FileManager.default.fileExists(atPath: target.path))
    }

    // MARK: - Helpers

    /// A temporary directory removed when the value goes away.
    final class Scratch {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory
                .appendingPathComponent("InitramfsTests-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    struct Member {
        var offset: Int
        var name: String
        var ino, mode, uid, gid, nlink, mtime, filesize, rdevmajor, rdevminor: UInt32
        var data: Data
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads a newc archive, checking the magic, the alignment and the name terminator.
    static func parse(_ bytes: Data) throws -> [Member] {
        let bytes = [UInt8](bytes)
        var members: [Member] = []
        var offset = 0
        func align(_ value: Int) -> Int { (value + 3) & ~3 }
        while true {
            guard offset + 110 <= bytes.count else { throw ParseError(description: "truncated header at \(offset)") }
            guard offset % 4 == 0 else { throw ParseError(description: "header at unaligned offset \(offset)") }
            guard String(decoding: bytes[offset..<offset + 6], as: UTF8.self) == "070701" else {
                throw ParseError(description: "bad magic at \(offset)")
            }
            var fields: [UInt32] = []
            for index in 0..<13 {
                let start = offset + 6 + index * 8
                let text = String(decoding: bytes[start..<start + 8], as: UTF8.self)
                guard let value = UInt32(text, radix: 16) else {
                    throw ParseError(description: "bad field \(text) at \(start)")
                }
                fields.append(value)
            }
            let nameSize = Int(fields[11])
            let nameStart = offset + 110
            guard nameSize >= 1, nameStart + nameSize <= bytes.count, bytes[nameStart + nameSize - 1] == 0 else {
                throw ParseError(description: "bad name at \(offset)")
            }
            let name = String(decoding: bytes[nameStart..<nameStart + nameSize - 1], as: UTF8.self)
            let dataStart = align(nameStart + nameSize)
            let dataEnd = dataStart + Int(fields[6])
            guard dataEnd <= bytes.count else { throw ParseError(description: "truncated data for \(name)") }
            guard bytes[nameStart + nameSize..<dataStart].allSatisfy({ $0 == 0 }) else {
                throw ParseError(description: "non-zero name padding for \(name)")
            }
            members.append(Member(
                offset: offset, name: name, ino: fields[0], mode: fields[1], uid: fields[2], gid: fields[3],
                nlink: fields[4], mtime: fields[5], filesize: fields[6], rdevmajor: fields[9], rdevminor: fields[10],
                data: Data(bytes[dataStart..<dataEnd])))
            offset = align(dataEnd)
            if name == "TRAILER!!!" { break }
        }
        guard bytes[offset...].allSatisfy({ $0 == 0 }) else {
            throw ParseError(description: "garbage after trailer")
        }
        return members
    }

    /// Writes the archive to a temporary file and returns its bytes.
    static func bytes(of archive: Initramfs) throws -> Data {
        let scratch = try Scratch()
        let url = scratch.url.appendingPathComponent("archive.cpio")
        try archive.write(to: url)
        return try Data(contentsOf: url)
    }

    /// Deterministic bytes (xorshift64), so failures are reproducible.
    static func pseudoRandomBytes(count: Int, seed: UInt64) -> Data {
        var state = seed | 1
        var bytes = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            var word = state
            for _ in 0..<8 where index < count {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return Data(bytes)
    }

    static func run(_ executable: String, _ arguments: [String], in directory: URL? = nil) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let scratch = try Scratch()
        let outURL = scratch.url.appendingPathComponent("stdout")
        let errURL = scratch.url.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        return (process.terminationStatus,
                String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }
}
