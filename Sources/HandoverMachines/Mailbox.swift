import Foundation

/// A queue of events with a waiting side that can give up: `next(until:)` returns nil at the
/// deadline, so no wait in handover is without a bound.
public actor Mailbox<Element: Sendable> {
    public init() {}

    private var queue: [Element] = []
    private var waiter: (id: UInt64, continuation: CheckedContinuation<Element?, Never>)?
    private var nextID: UInt64 = 0
    private var closed = false

    public func post(_ element: Element) {
        if let waiter {
            self.waiter = nil
            waiter.continuation.resume(returning: element)
        } else {
            queue.append(element)
        }
    }

    public func close() {
        closed = true
        if let waiter {
            self.waiter = nil
            waiter.continuation.resume(returning: nil)
        }
    }

    public func next(until deadline: ContinuousClock.Instant) async -> Element? {
        if !queue.isEmpty { return queue.removeFirst() }
        if closed || ContinuousClock.now >= deadline { return nil }
        nextID += 1
        let id = nextID
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            await self?.expire(id)
        }
        let element = await withCheckedContinuation { continuation in
            waiter = (id, continuation)
        }
        timer.cancel()
        return element
    }

    private func expire(_ id: UInt64) {
        guard let waiter, waiter.id == id else { return }
        self.waiter = nil
        waiter.continuation.resume(returning: nil)
    }

    /// Posts from a plain thread (a socket or stream reader) and returns once the element is
    /// queued, so elements posted one after another by the same thread keep their order.
    public nonisolated func postAndWait(_ element: Element) {
        let semaphore = DispatchSemaphore(value: 0)
        Task {
            await self.post(element)
            semaphore.signal()
        }
        semaphore.wait()
    }
}
