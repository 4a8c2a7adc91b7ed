import Foundation
import HandoverSupport

/// What GNU `patch` said about one patch.
struct PatchOutput: Equatable {
    var text: String
    var exitStatus: Int32

    /// Hunks it did not apply ("FAILED", or "ignored" for a file the patch would create that
    /// exists, or a patch that looks applied already), and the lines that say so.
    var rejectedLines: [String] {
        text.split(separator: "\n").map(String.init).filter {
            $0.contains("FAILED") || $0.contains(" ignored") || $0.contains("already exists") || $0.contains("Skipping patch")
                || $0.contains("can't find file")
        }
    }

    var rejected: Bool { exitStatus != 0 || !rejectedLines.isEmpty }
    var fuzzy: Bool { text.contains("with fuzz") }
    /// Exit status 2: patch could not read its input or the tree (not a matter of hunks).
    var troubled: Bool { exitStatus > 1 }

    var applied: KernelImage.PatchRecord.Applied { fuzzy ? .fuzz : .clean }
}

/// A port fixup of the recipe's `patches:`, and the series patches it ports: the Message-IDs
/// its preamble (the text before the first diff line) names on `Ports:` lines.
struct PortFixup: Equatable {
    var index: Int
    var file: URL
    var ports: [String]

    static func read(_ file: URL, index: Int) throws -> PortFixup {
        let text = try String(contentsOf: file, encoding: .utf8)
        var ports: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("--- ") || line.hasPrefix("diff ") || line.hasPrefix("Index: ") { break }
            guard line.lowercased().hasPrefix("ports:") else { continue }
            ports += MailMessage.messageIDs(in: String(line.dropFirst("ports:".count)))
        }
        return PortFixup(index: index, file: file, ports: ports)
    }
}

extension ImageBuilder {
    /// Applies one patch file to a tree with GNU patch; rejected hunks are discarded, not
    /// written beside the files, and no backups are left.
    static func runPatch(_ file: URL, on tree: URL) async throws -> PatchOutput {
        let output = try await Shell.capture("patch", ["-p1", "--forward", "--batch", "--no-backup-if-mismatch", "--reject-file=-",
                                                       "-d", tree.path, "-i", file.path])
        return PatchOutput(text: (output.stdout + output.stderr).trimmingCharacters(in: .whitespacesAndNewlines),
                           exitStatus: output.exitCode)
    }

    /// Applies the recipe's series and fixups to `tree` in order and returns what each did.
    /// A series patch with hunks that do not apply needs a fixup that ports it; everything else
    /// must apply.
    func applySeries(_ recipe: Recipe, series: [PostedSeries], to tree: URL, base: URL) async throws -> [KernelImage.PatchRecord] {
        var fixups: [PortFixup] = []
        for (index, file) in recipe.patches.enumerated() { fixups.append(try PortFixup.read(file, index: index)) }
        let known = Set(series.flatMap { $0.patches.map(\.message.messageID) })
        for fixup in fixups {
            for id in fixup.ports where !known.contains(id) {
                throw InputError(file: recipe.file.path, keyPath: "patches[\(fixup.index)]",
                                 message: "\(fixup.file.lastPathComponent) says it ports \(id), which is no patch of the recipe's series")
            }
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("handover-series-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        let order = series.flatMap { $0.patches.map(\.message.messageID) }
        func lastPorted(_ fixup: PortFixup) -> String? { order.last(where: fixup.ports.contains) }
        var records: [KernelImage.PatchRecord] = []
        func applyFixup(_ fixup: PortFixup) async throws -> KernelImage.PatchRecord {
            let output = try await Self.runPatch(fixup.file, on: tree)
            guard !output.rejected else {
                throw InputError(file: recipe.file.path, keyPath: "patches[\(fixup.index)]",
                                 message: "\(fixup.file.lastPathComponent) does not apply to \(base.lastPathComponent) with the series before it: \(output.text)")
            }
            return KernelImage.PatchRecord(file: fixup.file.path, sha256: try Digest.sha256(file: fixup.file), output: output.text,
                                           applied: output.applied)
        }
        for (seriesIndex, posted) in series.enumerated() {
            progress.step("\(recipe.name): applying series \(posted.id) (\(posted.patches.count) patches)")
            for patch in posted.patches {
                let message = patch.message
                let copy = scratch.appendingPathComponent(String(format: "%02d-%04d.eml", seriesIndex, patch.number))
                try message.raw.write(to: copy)
                let output = try await Self.runPatch(copy, on: tree)
                let label = "patch \(patch.number)/\(patch.total) \(message.messageID) (\"\(message.subject)\")"
                if output.troubled {
                    throw InputError(file: recipe.file.path, keyPath: "series[\(seriesIndex)]", message: "\(label): patch failed: \(output.text)")
                }
                let ports = fixups.filter { $0.ports.contains(message.messageID) }
                if output.rejected && ports.isEmpty {
                    throw InputError(file: recipe.file.path, keyPath: "series[\(seriesIndex)]",
                                     message: "\(label) does not apply to \(base.lastPathComponent): \(output.rejectedLines.joined(separator: "; ")); port it with a fixup in patches whose preamble says 'Ports: \(message.messageID)'")
                }
                records.append(KernelImage.PatchRecord(
                    file: message.source.path, sha256: message.sha256, output: output.text, subject: message.subject,
                    messageID: message.messageID, series: posted.id, applied: output.rejected ? .ported : output.applied,
                    portedBy: ports.isEmpty ? nil : ports.map(\.file.lastPathComponent)))
                // A fixup that ports several patches goes on after the last of them.
                for fixup in ports where lastPorted(fixup) == message.messageID {
                    records.append(try await applyFixup(fixup))
                }
            }
        }
        for fixup in fixups where fixup.ports.isEmpty { records.append(try await applyFixup(fixup)) }
        return records
    }
}
