import Foundation

/// A percentile bootstrap confidence interval of the ratio of two medians (new over base):
/// both samples are resampled with replacement, independently, `resamples` times.
public struct RatioInterval: Codable, Sendable, Equatable {
    /// The observed ratio of the medians.
    public var ratio: Double
    public var low: Double
    public var high: Double
    /// Two-sided coverage (0.90: 5% of the resampled ratios fall below `low`).
    public var confidence: Double
    public var resamples: Int
    public var seed: UInt64

    public init(base: [Double], new: [Double], confidence: Double = 0.90, resamples: Int = 2000,
                seed: UInt64 = SeededGenerator.reportSeed) {
        precondition(!base.isEmpty && !new.isEmpty && resamples > 0)
        var generator = SeededGenerator(seed: seed)
        ratio = SampleMath.median(new) / SampleMath.median(base)
        var ratios: [Double] = []
        ratios.reserveCapacity(resamples)
        var scratchBase = base
        var scratchNew = new
        for _ in 0..<resamples {
            Self.resample(base, into: &scratchBase, using: &generator)
            Self.resample(new, into: &scratchNew, using: &generator)
            ratios.append(Self.sortedMedian(&scratchNew) / Self.sortedMedian(&scratchBase))
        }
        ratios.sort()
        let tail = (1 - confidence) / 2
        low = Self.percentile(ratios, tail)
        high = Self.percentile(ratios, 1 - tail)
        self.confidence = confidence
        self.resamples = resamples
        self.seed = seed
    }

    private static func resample(_ values: [Double], into scratch: inout [Double], using generator: inout SeededGenerator) {
        for index in scratch.indices { scratch[index] = values[Int(generator.next(upperBound: UInt64(values.count)))] }
    }

    private static func sortedMedian(_ values: inout [Double]) -> Double {
        values.sort()
        let middle = values.count / 2
        return values.count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
    }

    private static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let index = min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.down))))
        return sorted[index]
    }
}
