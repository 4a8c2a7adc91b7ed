import Foundation

/// How many repeats per side a comparison needs so that a true growth of `sensitivity` is
/// flagged over `threshold` with the given power, when the blackout varies with coefficient
/// of variation `cv`.
///
/// The flag asks for the lower bound of the interval of the ratio of medians to clear
/// 1 + threshold. On the log scale the ratio's standard error is about
/// √2 · 1.2533 · cv / √n (1.2533: a median's standard error over a mean's, for normal data),
/// so n = 2 · (1.2533 · cv)² · (z(1 − α) + z(power))² / (ln(1 + sensitivity) − ln(1 + threshold))².
public enum RepeatsNeeded {
    public static func count(cv: Double, threshold: Double, sensitivity: Double, alpha: Double = 0.05, power: Double = 0.90) -> Int? {
        guard sensitivity > threshold, cv >= 0 else { return nil }
        let gap = log1p(sensitivity) - log1p(threshold)
        let z = SampleMath.normalQuantile(1 - alpha) + SampleMath.normalQuantile(power)
        let spread = 1.2533 * cv
        let n = 2 * spread * spread * z * z / (gap * gap)
        return max(3, Int(n.rounded(.up)))
    }

    /// The power a comparison with `n` repeats per side has, by the same approximation.
    public static func power(n: Int, cv: Double, threshold: Double, change: Double, alpha: Double = 0.05) -> Double {
        guard n > 0 else { return 0 }
        guard cv > 0 else { return change > threshold ? 1 : 0 }
        let standardError = 2.squareRoot() * 1.2533 * cv / Double(n).squareRoot()
        let z = (log1p(change) - log1p(threshold)) / standardError - SampleMath.normalQuantile(1 - alpha)
        return SampleMath.normalCDF(z)
    }
}
