import Foundation

/// Writes go to a temporary file beside the target and are renamed into place, so a reader
/// (or an interrupted run) sees either the old content or the new, never a torn file.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw HarnessError(.io, "cannot create \(directory.path): \(error.localizedDescription)")
        }
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        // POSIX calls, so that what ran out (space, quota, inodes) is reported as the kernel said it.
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw HarnessError(.io, "cannot write \(url.path): \(explain(errno: errno, at: directory))")
        }
        var failure: Int32 = 0
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
        }
        if failure == 0, fsync(fd) != 0 { failure = errno }
        if close(fd) != 0, failure == 0 { failure = errno }
        if failure == 0, rename(temporary.path, url.path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary.path)
            throw HarnessError(.io, "cannot write \(url.path) (the previous version, if any, is intact): \(explain(errno: failure, at: directory))")
        }
    }

    /// errno in words, and for a full file system how much room is left there.
    static func explain(errno code: Int32, at directory: URL) -> String {
        var text = "\(String(cString: strerror(code)))"
        switch code {
        case ENOSPC, EDQUOT:
            var info = statvfs()
            if statvfs(directory.path, &info) == 0 {
                let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
                text += " (\(code == ENOSPC ? "ENOSPC" : "EDQUOT"): \(free) bytes and \(info.f_favail) inodes free on the file system of \(directory.path))"
            } else {
                text += " (\(code == ENOSPC ? "ENOSPC" : "EDQUOT"))"
            }
        default: break
        }
        return text
    }

    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        try write(JSONCoding.encode(value) + Data("\n".utf8), to: url)
    }
}

public enum JSONCoding {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)))
        }
        return try encoder.encode(value)
    }

    /// Decodes a file; any failure is an error naming the file and what is wrong with it.
    public static func decode<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw HarnessError(.io, "cannot read \(url.path): \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
        do {
            return try decode(type, from: data)
        } catch let error as DecodingError {
            throw HarnessError(.io, "\(url.path) is corrupt or not handover's (\(T.self)): \(describe(error))")
        } catch {
            throw HarnessError(.io, "\(url.path) is corrupt or not handover's (\(T.self)): \(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func at(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "at \(path): ") + context.debugDescription
        }
        switch error {
        case .dataCorrupted(let context): return at(context)
        case .keyNotFound(let key, let context): return at(context).isEmpty ? "no \(key.stringValue)" : "no \(key.stringValue) (\(at(context)))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return at(context)
        @unknown default: return "\(error)"
        }
    }

    /// The same decoding as for a file (ISO 8601 dates), from bytes.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            for style in [Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle()] {
                if let date = try? style.parse(text) { return date }
            }
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 date: \(text)"))
        }
        return try decoder.decode(type, from: data)
    }
}
