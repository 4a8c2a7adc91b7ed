import Foundation

/// The Mann–Whitney U test, one-sided: is `new` stochastically larger than `base`?
/// Exact (the distribution of U over all rank arrangements) when there are no ties and the
/// samples are small; otherwise the normal approximation with the tie correction and a
/// continuity correction.
public struct MannWhitney: Codable, Sendable, Equatable {
    /// Pairs (base, new) with new > base, ties counting one half.
    public var u: Double
    /// P(U >= u) when the two samples come from one distribution.
    public var p: Double
    public var exact: Bool

    public init(base: [Double], new: [Double]) {
        precondition(!base.isEmpty && !new.isEmpty)
        var u = 0.0
        var tied = false
        for b in base {
            for a in new {
                if a > b { u += 1 } else if a == b { u += 0.5; tied = true }
            }
        }
        self.u = u
        let n = base.count, m = new.count
        if !tied, n * m <= 2500 {
            p = Self.exactUpperTail(n: n, m: m, u: Int(u))
            exact = true
        } else {
            p = Self.normalUpperTail(base: base, new: new, u: u)
            exact = false
        }
    }

    /// P(U >= u) by counting arrangements: c(n, m, k) = c(n - 1, m, k - m) + c(n, m - 1, k).
    static func exactUpperTail(n: Int, m: Int, u: Int) -> Double {
        let top = n * m
        // counts[i][k] for the current m, i base values (rows rebuilt per m).
        var previous = [[Double]](repeating: [Double](repeating: 0, count: top + 1), count: n + 1)
        for i in 0...n { previous[i][0] = 1 }  // m = 0: U is 0 in one way.
        if m > 0 {
            for mm in 1...m {
                var current = [[Double]](repeating: [Double](repeating: 0, count: top + 1), count: n + 1)
                current[0][0] = 1
                for i in 1...n {
                    for k in 0...(i * mm) {
                        // The largest value is a new one (it beats all i base values) or a base one.
                        let newLargest = k >= i ? previous[i][k - i] : 0
                        current[i][k] = newLargest + current[i - 1][k]
                    }
                }
                previous = current
            }
        }
        let counts = previous[n]
        let total = counts.reduce(0, +)
        let upper = counts[min(max(u, 0), top)...].reduce(0, +)
        return upper / total
    }

    static func normalUpperTail(base: [Double], new: [Double], u: Double) -> Double {
        let n = Double(base.count), m = Double(new.count)
        let all = base + new
        var tieTerm = 0.0
        for (_, group) in Dictionary(grouping: all, by: { $0 }) where group.count > 1 {
            let t = Double(group.count)
            tieTerm += t * t * t - t
        }
        let total = n + m
        let variance = n * m / 12 * ((total + 1) - tieTerm / (total * (total - 1)))
        guard variance > 0 else { return 1 }
        let z = (u - n * m / 2 - 0.5) / variance.squareRoot()
        return 1 - SampleMath.normalCDF(z)
    }
}
