import Foundation
import HandoverCore

/// The growth of a blackout that counts as a regression: a fraction of the base ("2%", 0.02)
/// or a time ("20ms", "0.5s").
public enum BlackoutThreshold: Sendable, Equatable, Codable, CustomStringConvertible {
    case fraction(Double)
    case seconds(Double)

    /// "2%", "0.02", "20ms", "0.5s"; nil for anything else or a threshold not above zero.
    public static func parse(_ text: String) -> BlackoutThreshold? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        let parsed: BlackoutThreshold?
        if text.hasSuffix("%") {
            parsed = Double(text.dropLast().trimmingCharacters(in: .whitespaces)).map { .fraction($0 / 100) }
        } else if text.hasSuffix("ms") {
            parsed = Double(text.dropLast(2).trimmingCharacters(in: .whitespaces)).map { .seconds($0 / 1000) }
        } else if text.hasSuffix("s") {
            parsed = Double(text.dropLast().trimmingCharacters(in: .whitespaces)).map { .seconds($0) }
        } else {
            parsed = Double(text).map { .fraction($0) }
        }
        guard let parsed, parsed.value > 0, parsed.value.isFinite else { return nil }
        return parsed
    }

    var value: Double {
        switch self {
        case .fraction(let value), .seconds(let value): value
        }
    }

    /// The growth in seconds that `base` may take before it counts.
    public func allowance(base: Double) -> Double {
        switch self {
        case .fraction(let fraction): fraction * base
        case .seconds(let seconds): seconds
        }
    }

    /// As a fraction of `base`: what the host clock's ratio statistics take.
    public func fraction(of base: Double) -> Double {
        switch self {
        case .fraction(let fraction): fraction
        case .seconds(let seconds): base > 0 ? seconds / base : seconds
        }
    }

    public var description: String {
        switch self {
        case .fraction(let fraction): String(format: "%g%%", fraction * 100)
        case .seconds(let seconds): String(format: "%g ms", seconds * 1000)
        }
    }
}

extension BlackoutChange {
    /// A judgement on the guest's clock (guest timing): virtual time under icount repeats to a
    /// fraction of a percent whatever the host does, so the medians decide from one repeat a
    /// side, against the threshold as it is given. Repeats taken under host contention stay in
    /// (they are counted in `disturbedKept`): the host cannot move virtual time.
    public init(guestBase base: [BlackoutSample], new: [BlackoutSample], threshold: BlackoutThreshold, sensitivity: Double? = nil) {
        clock = .guest
        baseCount = base.count
        newCount = new.count
        baseExcluded = 0
        newExcluded = 0
        disturbedKept = base.filter(\.disturbed).count + new.filter(\.disturbed).count
        phases = Self.phaseChanges(base: base, new: new)
        let a = base.map(\.total), b = new.map(\.total)
        baseMedian = a.isEmpty ? nil : SampleMath.median(a)
        newMedian = b.isEmpty ? nil : SampleMath.median(b)
        guard let baseMedian, let newMedian, baseMedian > 0 else {
            self.threshold = threshold.fraction(of: 0)
            self.sensitivity = sensitivity ?? 2 * self.threshold
            finding = .notJudged
            return
        }
        self.threshold = threshold.fraction(of: baseMedian)
        self.sensitivity = sensitivity ?? 2 * self.threshold
        if case .seconds(let seconds) = threshold { thresholdSeconds = seconds }
        spread = max(a.count > 1 ? a.max()! / a.min()! - 1 : 0, b.count > 1 ? b.max()! / b.min()! - 1 : 0)
        let allowance = threshold.allowance(base: baseMedian)
        if newMedian - baseMedian > allowance {
            finding = .regressed
        } else if baseMedian - newMedian > allowance {
            finding = .improved
        } else {
            finding = .unchanged
        }
    }

    /// The guest clock's paragraph (see `text`).
    var guestText: String {
        var parts: [String] = []
        let against = thresholdSeconds.map { String(format: "%g ms", $0 * 1000) } ?? Self.percent(threshold, sign: false)
        switch finding {
        case .notJudged:
            parts.append("not judged on the guest clock: \(baseCount) and \(newCount) guest-timed repeats, at least 1 a side needed")
        default:
            let delta = (newMedian ?? 0) - (baseMedian ?? 0)
            parts.append("\(finding.rawValue) on the guest clock: \(changeText) (\(Self.signedMilliseconds(delta))) against the \(against) threshold")
        }
        if let baseMedian, let newMedian {
            parts.append("median \(Self.milliseconds(baseMedian)) → \(Self.milliseconds(newMedian)) (virtual time)")
        }
        if let cause, let baseMedian, let newMedian, newMedian != baseMedian {
            let share = cause.delta / (newMedian - baseMedian)
            parts.append("\(cause.phase) \(Self.signedMilliseconds(cause.delta)) (\(Int((share * 100).rounded()))% of the change)")
            if let step = bootCause {
                parts.append("in it \(step.phase.dropFirst(Blackout.bootStepPrefix.count)) \(Self.signedMilliseconds(step.delta))")
            }
        }
        var used = "\(baseCount) vs \(newCount) repeats"
        if let spread { used += String(format: ", spread within a side %.2f%%", spread * 100) }
        if let disturbedKept, disturbedKept > 0 { used += " (\(disturbedKept) taken under host contention, kept: it cannot move guest time)" }
        parts.append(used)
        return parts.joined(separator: "; ")
    }

    static func milliseconds(_ value: Double) -> String { String(format: "%.3f ms", value * 1000) }
    static func signedMilliseconds(_ value: Double) -> String { String(format: "%+.3f ms", value * 1000) }
}
