import Foundation
import Synchronization
import HandoverCore
import HandoverSupport
import HandoverResults

/// The short human summary printed after a run.
public enum RunSummary {
    public static func text(_ result: RunResult) -> String {
        var lines = [result.summaryLine, "  \(result.reason)"]
        if let evidence = result.evidence { lines.append("  kernel said: \(evidence)") }
        lines.append("  from \(result.from.recipe): \(result.from.kernelRelease) (\(result.from.version)); to \(result.to.recipe): \(result.to.kernelRelease) (\(result.to.version))")
        lines.append("  accelerator: \(result.accelerator.rawValue) (\(result.acceleratorReason))")
        if let blackout = result.blackout { lines += blackoutLines(blackout, guestTimed: result.guestBlackout != nil) }
        if let guest = result.guestBlackout { lines += blackoutLines(guest, guestTimed: true) }
        if let payload = result.payload, !payload.isEmpty {
            lines.append("  payload: " + payload.map { "stage \($0.stage) (\($0.kernel)) initramfs \(bytes($0.initramfsBytes))" }.joined(separator: ", "))
        }
        if let vm = result.vm { lines += vmLines(vm) }
        if let contention = result.contention { lines.append("  host during the blackout: \(contention.text)") }
        if result.hops.count > 1 {
            for (index, hop) in result.hops.enumerated() {
                lines.append("  hop \(index + 1) \(hop.from) -> \(hop.to): \(hop.objectsIntact)/\(hop.objectsTotal) intact, blackout \(ms(hop.blackout?.total))"
                             + (hop.vmBlackout.map { ", VM blackout \(ms($0))" } ?? ""))
            }
        }
        let failedObjects = result.objects.filter { !$0.ok }
        if !result.objects.isEmpty {
            lines.append("  objects: \(result.objects.count - failedObjects.count)/\(result.objects.count) intact")
        }
        for object in failedObjects.prefix(10) {
            for property in object.properties where property.status == .changed {
                lines.append("    \(object.object): \(property.property) \(property.detail ?? "\(property.before) -> \(property.after)")")
            }
        }
        for outcome in result.selftests {
            lines.append("  \(outcome.status.rawValue.uppercased().padding(toLength: 5, withPad: " ", startingAt: 0)) \(outcome.test) (\(outcome.kernels.joined(separator: " -> "))): \(outcome.message)")
            for subtest in outcome.subtests where subtest.status == .fail { lines.append("        not ok \(subtest.name)") }
        }
        if !result.checks.isEmpty {
            let failed = result.checks.filter { !$0.passed }
            lines.append("  uAPI checks: \(result.checks.count - failed.count)/\(result.checks.count) passed")
            for check in failed { lines.append("    \(check.check.wireName): expected \(check.expected), observed \(check.observed)") }
        }
        if result.verdict != .pass, !result.consoleTail.isEmpty {
            lines.append("  console tail:")
            lines += result.consoleTail.suffix(12).map { "    | \($0)" }
        }
        return lines.joined(separator: "\n")
    }

    /// A blackout and its phases, saying which clock they are on (with guest timing the host
    /// clock's figures are labelled too).
    static func blackoutLines(_ blackout: Blackout, guestTimed: Bool) -> [String] {
        let guest = blackout.measuredOn == .guest
        let name = guest ? "blackout on the guest clock (icount, virtual time)" : guestTimed ? "blackout on the host clock" : "blackout"
        let ms: (Double?) -> String = guest ? { fine($0) } : { Self.ms($0) }
        guard blackout.shutdown != nil else {
            return ["  \(name): \(ms(blackout.total)) (quiesce to the new kernel's hello; shortest over the tests)"]
        }
        var lines = ["  \(name): \(ms(blackout.total))  = shutdown \(ms(blackout.shutdown)) + kernel boot \(ms(blackout.kernelBoot)) + agent start \(ms(blackout.agentStart)) + restore \(ms(blackout.restore)) + unaccounted \(ms(blackout.unaccounted))"]
        if let old = blackout.oldKernel, let jump = blackout.jump {
            lines.append("    shutdown = old kernel \(ms(old)) (quiesce to \"Starting new kernel\") + jump \(ms(jump)) (purgatory, decompression, early boot)")
        }
        if let unpack = blackout.initramfsUnpack { lines.append("    kernel boot includes unpacking the initramfs: \(ms(unpack)) (beside the initcalls)") }
        for step in blackout.kernelBootSteps ?? [] { lines.append("    kernel boot: \(step.name) \(ms(step.seconds))") }
        if let share = blackout.attributedShare { lines.append(String(format: "    attributed to named phases: %.1f%%", share * 100)) }
        return lines
    }

    /// The guest's own story: its blackout and what it spent, its progress across the pause.
    static func vmLines(_ vm: VMResult) -> [String] {
        var lines: [String] = []
        if let hop = vm.hops.first, let blackout = hop.blackout {
            lines.append("  VM blackout: \(ms(blackout)) (the guest's last exit before the pause to its first after the resume) = pause to quiesce \(ms(hop.beforeQuiesce)) + agent blackout + resumed to first exit \(ms(hop.afterResumed))")
        }
        if let hop = vm.hops.first, let paused = hop.counterAtPause {
            lines.append("  guest: counter \(paused) at the pause, \(hop.firstCounterAfter.map(String.init) ?? "?") at its first exit after, \(vm.stages.last?.counterEnd ?? 0) at the end; \(vm.ramBytes >> 20) MiB \(vm.backing == .guestMemfd ? "guest_memfd" : "memfd") RAM")
        }
        if let ram = vm.ram {
            lines.append("  guest RAM at counter \(ram.counter): \(ram.intact ? "matches" : "differs from") the runner's model (SHA-256 of \(ram.bytes / max(ram.chunkSize, 1)) chunks, model \(ram.modelDigest.prefix(16)), reported \(ram.reportedDigest.prefix(16)))")
        }
        if let before = vm.rateBefore {
            lines.append(String(format: "  guest progress: %.0f iterations/s before the handover, %@ after", before, vm.rateAfter.map { String(format: "%.0f", $0) } ?? "?"))
        }
        return lines
    }

    public static func text(_ repeated: RepeatedRunResult) -> String {
        var lines = ["\(repeated.verdict.rawValue.uppercased()) \(repeated.scenario): \(repeated.from.recipe) -> \(repeated.to.recipe), \(repeated.runs.count) runs under \(repeated.accelerator.rawValue)"]
        let counts = Dictionary(grouping: repeated.runs, by: \.verdict).mapValues(\.count)
        lines.append("  verdicts: " + counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", "))
        if let stats = repeated.blackout {
            lines.append("  blackout\(repeated.guestBlackout == nil ? "" : " on the host clock"): min \(ms(stats.min)), median \(ms(stats.median)), p95 \(ms(stats.p95)), max \(ms(stats.max)), CV \(String(format: "%.1f%%", stats.coefficientOfVariation * 100))")
        }
        if let stats = repeated.guestBlackout {
            lines.append("  blackout on the guest clock (icount, virtual time): min \(fine(stats.min)), median \(fine(stats.median)), max \(fine(stats.max)), spread (max/min - 1) \(String(format: "%.3f%%", stats.spread * 100))")
            for name in ["shutdown", "oldKernel", "jump", "kernelBoot", "initramfsUnpack", "agentStart", "restore", "unaccounted"] {
                if let phase = repeated.guestPhases?[name] { lines.append("    \(name): median \(fine(phase.median)) (min \(fine(phase.min)), max \(fine(phase.max)))") }
            }
        }
        let disturbed = repeated.runs.filter { $0.contention?.disturbed == true }.count
        if disturbed > 0 {
            lines.append("  \(disturbed) of \(repeated.runs.count) blackouts were taken while the host CPU was contended (see each run's contention)")
        }
        
        if let stats = repeated.vmBlackout {
            lines.append("  VM blackout: min \(ms(stats.min)), median \(ms(stats.median)), p95 \(ms(stats.p95)), max \(ms(stats.max)), CV \(String(format: "%.1f%%", stats.coefficientOfVariation * 100))")
        }
        if repeated.guestBlackout != nil { lines.append("  host clock phases:") }
        for name in ["shutdown", "oldKernel", "jump", "kernelBoot", "initramfsUnpack", "agentStart", "restore", "unaccounted"] {
            if let stats = repeated.phases[name] { lines.append("    \(name): median \(ms(stats.median)) (min \(ms(stats.min)), max \(ms(stats.max)))") }
        }
        if let share = repeated.phases["attributedShare"] {
            lines.append(String(format: "    attributed to named phases: median %.1f%% (min %.1f%%)", share.median * 100, share.min * 100))
        }
        return lines.joined(separator: "\n")
    }

    static func bytes(_ count: Int) -> String {
        count >= 1 << 20 ? String(format: "%.1f MiB", Double(count) / 1048576) : String(format: "%.0f KiB", Double(count) / 1024)
    }

    /// Guest-clock seconds: reproducible to well under a millisecond, so shown to the microsecond.
    static func fine(_ seconds: Double?) -> String {
        guard let seconds else { return "?" }
        return String(format: "%.3f ms", seconds * 1000)
    }

    static func ms(_ seconds: Double?) -> String {
        guard let seconds else { return "?" }
        return String(format: "%.1f ms", seconds * 1000)
    }
}

/// Where results go, created before any VM starts so an unwritable folder fails early.
public enum ResultsFolder {
    public static func defaultPath(scenario: String, from: String, to: String) -> String {
        "results/\(timestamp())-\(scenario)-\(from)-to-\(to)"
    }

    public static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return formatter.string(from: Date())
    }

    public static func prepare(_ folder: URL) throws {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw HarnessError(.io, "cannot create the results folder \(folder.path): \(error.localizedDescription)")
        }
        let probe = folder.appendingPathComponent(".write-test-\(getpid())")
        do {
            try AtomicFile.write("ok", to: probe)
        } catch let error as HarnessError {
            throw HarnessError(.io, "the results folder \(folder.path) is not writable: \(error.message)")
        }
        try? FileManager.default.removeItem(at: probe)
        try lock(folder)
    }

    /// Folders this process holds, with the descriptor of each one's lock file.
    private static let held = Mutex<[String: Int32]>([:])
    public static let lockFile = ".handover.lock"

    /// Takes the folder for this process: an exclusive flock on its lock file, held until the
    /// process ends (the kernel drops it even on SIGKILL), so a second run or matrix into the
    /// same folder is refused instead of interleaving its files with the first one's.
    public static func lock(_ folder: URL) throws {
        let path = folder.standardizedFileURL.path
        if held.withLock({ $0[path] != nil }) { return }
        let lockPath = folder.appendingPathComponent(lockFile).path
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw HarnessError(.io, "cannot create \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let owner = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw HarnessError(.io, "the results folder \(folder.path) is in use by another handover\(owner.isEmpty ? "" : " (pid \(owner))"); give each run its own --out")
        }
        ftruncate(fd, 0)
        let text = "\(getpid())\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        held.withLock { $0[path] = fd }
    }
}

/// Scenario names resolve in the nearest Scenarios/ folder; paths are taken as they are.
public struct ScenarioCatalog: Sendable {
    public let folder: URL

    public static func locate() -> ScenarioCatalog {
        var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("Scenarios")
            if FileManager.default.isDirectory(candidate) { return ScenarioCatalog(folder: candidate) }
            directory.deleteLastPathComponent()
        }
        return ScenarioCatalog(folder: URL(fileURLWithPath: "Scenarios"))
    }

    public func file(for nameOrPath: String) throws -> URL {
        let direct = URL(fileURLWithPath: nameOrPath)
        if FileManager.default.fileExists(atPath: direct.path), !FileManager.default.isDirectory(direct) { return direct }
        let named = folder.appendingPathComponent(nameOrPath.hasSuffix(".yaml") ? nameOrPath : "\(nameOrPath).yaml")
        guard FileManager.default.fileExists(atPath: named.path) else {
            throw HarnessError(.notFound, "no scenario '\(nameOrPath)' (looked for \(direct.path) and \(named.path))")
        }
        return named
    }
}

extension Injection {
    /// flip-byte:OBJECT:OFFSET or crash:STAGE.
    public static func parse(_ text: String) throws -> Injection {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "flip-byte" where parts.count == 3:
            guard let offset = Int(parts[2]), offset >= 0 else { throw HarnessError(.notFound, "--inject \(text): the offset must be a byte number") }
            return .flipByte(object: parts[1], offset: offset)
        case "crash", "stall", "no-init", "garbage", "corrupt-vcpu":
            guard parts.count == 2, let stage = Int(parts[1]), (1...9).contains(stage) else {
                throw HarnessError(.notFound, "--inject \(text): expected \(parts[0]):STAGE with a stage number (1 is the first kernel)")
            }
            switch parts[0] {
            case "crash": return .crash(stage: stage)
            case "stall": return .stall(stage: stage)
            case "no-init": return .noInit(stage: stage)
            case "corrupt-vcpu": return .corruptVCPU(stage: stage)
            default: return .garbage(stage: stage)
            }
        default:
            throw HarnessError(.notFound, "--inject \(text): expected flip-byte:OBJECT:OFFSET, crash:STAGE, stall:STAGE, no-init:STAGE, garbage:STAGE or corrupt-vcpu:STAGE")
        }
    }
}
