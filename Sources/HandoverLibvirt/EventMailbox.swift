import Foundation

/// The backend's own copy of HandoverRunner's Mailbox (internal there): a queue of events with
/// a waiting side that gives up at a deadline.
actor EventMailbox<Element: Sendable> {
    private var queue: [Element] = []
    private var waiter: (id: UInt64, continuation: CheckedContinuation<Element?, Never>)?
    private var nextID: UInt64 = 0

    func post(_ element: Element) {
        if let waiter {
            self.waiter = nil
            waiter.continuation.resume(returning: element)
        } else {
            queue.append(element)
        }
    }

    func next(until deadline: ContinuousClock.Instant) async -> Element? {
        if !queue.isEmpty { return queue.removeFirst() }
        if ContinuousClock.now >= deadline { return nil }
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

    /// Posts from a plain thread and returns once the event is queued, so that events posted
    /// one after another by the same thread keep their order.
    nonisolated func postAndWait(_ element: Element) {
        let semaphore = DispatchSemaphore(value: 0)
        Task {
            await self.post(element)
            semaphore.signal()
        }
        semaphore.wait()
    }
}
