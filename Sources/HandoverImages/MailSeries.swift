import Foundation
import HandoverSupport

/// One raw mail message, as `git am` takes it: headers, a blank line, the body.
public struct MailMessage: Sendable, Equatable {
    /// The file it was read from (for an mbox, the mbox file).
    public var source: URL
    public var messageID: String
    public var subject: String
    public var inReplyTo: [String]
    public var references: [String]
    /// The message's bytes, exactly as stored.
    public var raw: Data

    public var sha256: String { Digest.sha256(raw) }

    /// Reads the headers of a message; nil when the text has no header block with a Message-ID.
    public static func parse(_ raw: Data, source: URL) -> MailMessage? {
        let text = String(decoding: raw, as: UTF8.self)
        var headers: [(String, String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            if line.isEmpty { break }
            if line.first == " " || line.first == "\t" {
                guard !headers.isEmpty else { return nil }
                headers[headers.count - 1].1 += " " + line.trimmingCharacters(in: .whitespaces)
                continue
            }
            // The mbox separator of a message taken out of an mbox.
            if headers.isEmpty && line.hasPrefix("From ") { continue }
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        func field(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
        guard let idField = field("message-id"), let messageID = messageIDs(in: idField).first else { return nil }
        return MailMessage(source: source, messageID: messageID, subject: MailHeader.decode(field("subject") ?? ""),
                           inReplyTo: messageIDs(in: field("in-reply-to") ?? ""),
                           references: messageIDs(in: field("references") ?? ""), raw: raw)
    }

    /// The `<...>` identifiers in a header value, in order.
    static func messageIDs(in value: String) -> [String] {
        var result: [String] = []
        var rest = Substring(value)
        while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
            result.append(String(rest[open...close]))
            rest = rest[rest.index(after: close)...]
        }
        return result
    }

    /// Whether it replies to, or hangs below, the message `id` in its thread.
    public func threads(under id: String) -> Bool { inReplyTo.contains(id) || references.contains(id) }
}

/// RFC 2047 encoded words in headers (`=?UTF-8?q?...?=`), as mailers write non-ASCII subjects.
enum MailHeader {
    static func decode(_ value: String) -> String {
        let pattern = #/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/#
        var output = ""
        var rest = Substring(value)
        var lastWasWord = false
        while let match = rest.firstMatch(of: pattern) {
            let between = rest[..<match.range.lowerBound]
            // Whitespace between two encoded words is not part of the text.
            if !(lastWasWord && between.allSatisfy(\.isWhitespace)) { output += between }
            let payload = String(match.3)
            var bytes: [UInt8]?
            if match.2.lowercased() == "b" {
                bytes = Data(base64Encoded: payload).map { [UInt8]($0) }
            } else {
                bytes = quotedPrintable(payload.replacingOccurrences(of: "_", with: " "))
            }
            if let bytes { output += String(decoding: bytes, as: UTF8.self) } else { output += rest[match.range] }
            lastWasWord = true
            rest = rest[match.range.upperBound...]
        }
        return output + rest
    }

    static func quotedPrintable(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "=") else { bytes.append(byte); continue }
            guard let high = iterator.next(), let low = iterator.next(),
                  let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(value)
        }
        return bytes
    }
}

/// The mail folders series are looked up in: `HANDOVER_MAIL`, colon-separated. Each entry is a
/// folder (searched through its subfolders) of `.eml` files, a maildir (`cur/`, `new/`), or an
/// mbox file; an mbox file may also sit in a folder.
public struct MailFolders: Sendable, Equatable {
    public var entries: [URL]

    public static let variable = "HANDOVER_MAIL"

    public init(entries: [URL]) { self.entries = entries }

    /// The folders `HANDOVER_MAIL` names; relative entries are taken from the current directory.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment,
                                       currentDirectory: String = FileManager.default.currentDirectoryPath) -> MailFolders {
        let value = environment[variable] ?? ""
        let base = URL(fileURLWithPath: currentDirectory)
        let entries = value.split(separator: ":").map(String.init).filter { !$0.isEmpty }.map { entry in
            entry.hasPrefix("/") ? URL(fileURLWithPath: entry).standardizedFileURL : base.appendingPathComponent(entry).standardizedFileURL
        }
        return MailFolders(entries: entries)
    }

    /// How the searched folders are named in errors.
    public var described: String {
        entries.isEmpty ? "none (\(Self.variable) is not set)" : entries.map(\.path).joined(separator: ", ") + " (\(Self.variable))"
    }

    /// Every message in the folders, in a stable order (entry, then path, then place in an mbox).
    public func messages() -> [MailMessage] {
        var result: [MailMessage] = []
        let fm = FileManager.default
        for entry in entries {
            if fm.isDirectory(entry) {
                let files = (fm.enumerator(at: entry, includingPropertiesForKeys: [.isRegularFileKey])?.allObjects as? [URL] ?? [])
                    .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
                    .sorted { $0.path < $1.path }
                for file in files where !file.lastPathComponent.hasPrefix(".") {
                    result += Self.read(file)
                }
            } else if fm.fileExists(atPath: entry.path) {
                result += Self.read(entry)
            }
        }
        return result
    }

    /// The messages of one file: an mbox holds many, anything else at most one.
    static func read(_ file: URL) -> [MailMessage] {
        guard let data = try? Data(contentsOf: file), !data.isEmpty else { return [] }
        if data.starts(with: Data("From ".utf8)) {
            return splitMbox(data).compactMap { MailMessage.parse($0, source: file) }
        }
        return MailMessage.parse(data, source: file).map { [$0] } ?? []
    }

    /// An mbox's messages: each starts at a line beginning with "From " (mboxrd escapes such
    /// lines inside a message as ">From ").
    static func splitMbox(_ data: Data) -> [Data] {
        let bytes = [UInt8](data)
        let marker = Array("From ".utf8)
        var starts: [Int] = []
        var lineStart = 0
        while lineStart < bytes.count {
            if bytes[lineStart...].starts(with: marker) { starts.append(lineStart) }
            guard let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            lineStart = newline + 1
        }
        return starts.indices.map { index in
            let start = starts[index]
            let end = index + 1 < starts.count ? starts[index + 1] : bytes.count
            // Drop the separator line itself: `patch` and `git am` read from the headers on.
            let body = bytes[start..<end]
            let afterSeparator = body.firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? end
            var message = Array(bytes[afterSeparator..<end])
            // The blank line before the next separator belongs to the mbox, not to the message.
            if message.count >= 2, message[message.count - 1] == UInt8(ascii: "\n"), message[message.count - 2] == UInt8(ascii: "\n") {
                message.removeLast()
            }
            return Data(unescapeFromLines(message))
        }
    }

    /// mboxrd writes a body line "From ..." as ">From ...", and ">From" as ">>From": one '>'
    /// comes off each.
    static func unescapeFromLines(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var atLineStart = true
        var index = 0
        while index < bytes.count {
            if atLineStart && bytes[index] == UInt8(ascii: ">") {
                var probe = index
                while probe < bytes.count && bytes[probe] == UInt8(ascii: ">") { probe += 1 }
                if bytes[probe...].starts(with: Array("From ".utf8)) { index += 1 }
            }
            let byte = bytes[index]
            result.append(byte)
            atLineStart = byte == UInt8(ascii: "\n")
            index += 1
        }
        return result
    }
}

/// A patch series as posted: the messages that answer its thread root, in the order of their
/// `[PATCH vN MM/NN]` numbers.
///
/// A series is named by the Message-ID of its thread root: the cover letter (0/N), which the
/// patches' In-Reply-To and References point at, whether or not the cover letter itself is in
/// the folders (guest-memfd-rfc-v2's patches reply to a cover letter the folder does not hold).
/// A series sent without a cover letter is named by its 1/N patch, to which the others reply.
public struct PostedSeries: Sendable, Equatable {
    public struct Patch: Sendable, Equatable {
        public var number: Int
        public var total: Int
        public var message: MailMessage
    }

    public var id: String
    /// The cover letter's subject when it is in the folders.
    public var title: String?
    public var patches: [Patch]

    /// "<id>" for "id", "<id>" or " <id> ".
    public static func normalizedID(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.hasPrefix("<") ? trimmed : "<\(trimmed)>"
    }

    /// Whether text looks like a Message-ID (`local@domain`, with or without angle brackets).
    public static func isMessageID(_ text: String) -> Bool {
        normalizedID(text).range(of: #"^<[^<>@\s]+@[^<>@\s]+>$"#, options: .regularExpression) != nil
    }

    /// The number and total of a patch subject: `[RFC PATCH v2 03/10] ...` gives (3, 10); nil
    /// for a reply (`Re:`) or a subject without a patch tag.
    public static func number(inSubject subject: String) -> (number: Int, total: Int)? {
        let trimmed = subject.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased().hasPrefix("re:") || trimmed.lowercased().hasPrefix("aw:") { return nil }
        guard let match = trimmed.firstMatch(of: #/^\[[^\]]*PATCH[^\]]*?\s(\d+)/(\d+)\s*\]/#.ignoresCase()),
              let number = Int(match.1), let total = Int(match.2) else { return nil }
        return (number, total)
    }

    /// The subject without its `[PATCH ...]` tag.
    public static func title(ofSubject subject: String) -> String {
        if let end = subject.firstIndex(of: "]"), subject.trimmingCharacters(in: .whitespaces).hasPrefix("[") {
            return subject[subject.index(after: end)...].trimmingCharacters(in: .whitespaces)
        }
        return subject
    }

    /// Whether a message carries a diff (a patch, not a discussion of one).
    static func hasDiff(_ message: MailMessage) -> Bool {
        let text = String(decoding: message.raw, as: UTF8.self)
        return text.contains("\n+++ ") && (text.contains("\ndiff --git ") || text.contains("\n--- "))
    }

    public enum LookupError: Error, Equatable, CustomStringConvertible {
        case notFound(id: String)
        case missing(id: String, numbers: [Int], total: Int)
        case conflicting(id: String, number: Int, messages: [String])
        case totals(id: String, totals: [Int])

        public var description: String {
            switch self {
            case .notFound(let id):
                "no patch in the mail folders is the 1/N of, or replies to, \(id)"
            case .missing(let id, let numbers, let total):
                "the series \(id) lacks patch\(numbers.count == 1 ? "" : "es") \(numbers.map { "\($0)/\(total)" }.joined(separator: ", ")) in the mail folders"
            case .conflicting(let id, let number, let messages):
                "the series \(id) has \(messages.count) different messages numbered \(number): \(messages.joined(separator: ", ")) (a resend? name the one you mean)"
            case .totals(let id, let totals):
                "the patches of \(id) disagree on the series' length: \(totals.map(String.init).joined(separator: ", "))"
            }
        }
    }

    /// Finds the series rooted at `id` among `messages`.
    public static func find(_ id: String, in messages: [MailMessage]) throws(LookupError) -> PostedSeries {
        let id = normalizedID(id)
        let root = messages.first { $0.messageID == id }
        var candidates = messages.filter { $0.threads(under: id) }
        if let root, let tag = number(inSubject: root.subject), tag.number == 1 { candidates.append(root) }
        var byNumber: [Int: [MailMessage]] = [:]
        var totals = Set<Int>()
        for message in candidates {
            guard let tag = number(inSubject: message.subject), tag.number >= 1, hasDiff(message) else { continue }
            // The same message found twice (in two folders, or as .eml and in an mbox).
            if byNumber[tag.number]?.contains(where: { $0.messageID == message.messageID }) == true { continue }
            byNumber[tag.number, default: []].append(message)
            totals.insert(tag.total)
        }
        guard !byNumber.isEmpty else { throw .notFound(id: id) }
        if let root, let cover = number(inSubject: root.subject), cover.number == 0 { totals.insert(cover.total) }
        guard totals.count == 1, let total = totals.first else { throw .totals(id: id, totals: totals.sorted()) }
        let missing = (1...max(total, 1)).filter { byNumber[$0] == nil }
        guard missing.isEmpty else { throw .missing(id: id, numbers: missing, total: total) }
        var patches: [Patch] = []
        for number in byNumber.keys.sorted() {
            let found = byNumber[number]!
            guard found.count == 1 else { throw .conflicting(id: id, number: number, messages: found.map(\.messageID)) }
            patches.append(Patch(number: number, total: total, message: found[0]))
        }
        let coverTitle = root.flatMap { Self.number(inSubject: $0.subject)?.number == 0 ? Self.title(ofSubject: $0.subject) : nil }
        return PostedSeries(id: id, title: coverTitle, patches: patches)
    }

    /// What the cache key takes from a series: each patch's Message-ID and content digest.
    public var keyParts: [String] { patches.map { "\($0.message.messageID):\($0.message.sha256)" } }
}

extension Recipe {
    /// The recipe's series, found in `folders`; an unfindable one is an error naming the
    /// recipe file, its `series[i]` key and the folders searched.
    public func postedSeries(in folders: MailFolders) throws(InputError) -> [PostedSeries] {
        guard !series.isEmpty else { return [] }
        guard !folders.entries.isEmpty else {
            throw InputError(file: file.path, keyPath: "series",
                             message: "the recipe carries \(series.count) posted series, but \(MailFolders.variable) is not set: set it to the mail folders (colon-separated) that hold them")
        }
        let missingFolders = folders.entries.filter { !FileManager.default.fileExists(atPath: $0.path) }
        let messages = folders.messages()
        var result: [PostedSeries] = []
        for (index, id) in series.enumerated() {
            do {
                result.append(try PostedSeries.find(id, in: messages))
            } catch {
                let absent = missingFolders.isEmpty ? "" : "; \(missingFolders.map(\.path).joined(separator: ", ")) do\(missingFolders.count == 1 ? "es" : "") not exist"
                throw InputError(file: file.path, keyPath: "series[\(index)]",
                                 message: "\(error); searched \(messages.count) message(s) in \(folders.described)\(absent)")
            }
        }
        return result
    }
}
