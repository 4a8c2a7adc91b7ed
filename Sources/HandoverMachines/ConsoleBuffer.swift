/// The most recent lines of a VM's serial console, kept in memory for classifying how a run
/// ended and for the tail a result carries (the whole console is in console.log). One kind of
/// buffer for every reader of the console: the recorder, the run tracker, the selftest driver.
public struct ConsoleBuffer: Sendable {
    public let capacity: Int
    private var storage: [String] = []

    /// Long enough to hold a panic and the boot before it (a kernel boot is ~300-600 lines
    /// under initcall_debug many more; the panic and its reasons come last).
    public init(capacity: Int = 4000) {
        precondition(capacity > 0)
        self.capacity = capacity
        storage.reserveCapacity(min(capacity, 1024))
    }

    public mutating func append(_ line: String) {
        storage.append(line)
        // Dropping in batches keeps appends amortised O(1).
        if storage.count > capacity + capacity / 4 { storage.removeFirst(storage.count - capacity) }
    }

    /// The lines held, oldest first (at most capacity + capacity/4 of them).
    public var lines: ArraySlice<String> { storage.suffix(capacity) }

    public func tail(_ count: Int) -> [String] { Array(storage.suffix(count)) }
}
