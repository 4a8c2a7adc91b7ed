/// The new kernel's printk clock against the host clock, from its console lines. Under TCG the
/// early TSC calibration can be wrong ("tsc: Unable to calibrate against PIT"), and the printk
/// clock then counts too slowly until the calibration is refined: seen here, 0.9 s of host
/// time in the first printk second. So a printk time is placed on the host clock by the lines
/// printed near it, not by one offset for the whole boot.
struct ConsoleClock {
    /// Each console line of the new kernel with a printk time: that time and its arrival.
    var points: [(printk: Double, host: Double)] = []

    /// Host time of the new kernel's first console line (its lines before the console was
    /// set up arrive then, all at once).
    var firstLine: Double? { points.map(\.host).min() }

    /// The earliest host time a printk time can have: a line printed at or after it arrived
    /// that much later. Lines arrive after they are printed, so the lowest such bound is
    /// the closest; after the last line, the last lines' offset holds.
    func host(atPrintk printk: Double) -> Double? {
        guard !points.isEmpty else { return nil }
        var best = Double.infinity
        for point in points where point.printk >= printk { best = min(best, point.host - point.printk) }
        if best == .infinity { best = points.suffix(10).map { $0.host - $0.printk }.min()! }
        return printk + best
    }
}
