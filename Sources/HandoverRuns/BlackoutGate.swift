import HandoverMachines
/// Keeps the blackouts of a matrix's VMs apart on a host that has fewer cores than the VMs
/// have vCPUs. A run holds the gate exclusively from the moment its agent is told to start
/// (from there the agent preserves and kexecs on its own) until the agent says resumed; it
/// holds it shared while its VM is busy otherwise (the first kernel's boot, verification).
/// So while one VM is in its blackout, every other VM is idle: not started yet, or waiting
/// for the runner's next command. Waiting writers go first, so blackouts are not starved.
public actor BlackoutGate {
    public enum Mode: Sendable { case shared, exclusive }

    private var readers = 0
    private var writer = false
    private var waitingWriters: [CheckedContinuation<Void, Never>] = []
    private var waitingReaders: [CheckedContinuation<Void, Never>] = []

    public init() {}

    public func acquire(_ mode: Mode) async {
        switch mode {
        case .shared:
            if !writer, waitingWriters.isEmpty {
                readers += 1
                return
            }
            await withCheckedContinuation { waitingReaders.append($0) }
        case .exclusive:
            if !writer, readers == 0, waitingWriters.isEmpty {
                writer = true
                return
            }
            await withCheckedContinuation { waitingWriters.append($0) }
        }
    }

    public func release(_ mode: Mode) {
        switch mode {
        case .shared: readers -= 1
        case .exclusive: writer = false
        }
        wake()
    }

    /// Hands the gate on: to the first waiting writer once no one holds it, else to every waiting reader.
    private func wake() {
        guard !writer else { return }
        if !waitingWriters.isEmpty {
            guard readers == 0 else { return }
            writer = true
            waitingWriters.removeFirst().resume()
            return
        }
        readers += waitingReaders.count
        for reader in waitingReaders { reader.resume() }
        waitingReaders.removeAll()
    }
}

/// What one run holds of the gate, changed as the run moves between its phases.
struct GateHold: Sendable {
    let gate: BlackoutGate
    private(set) var held: BlackoutGate.Mode?

    init(_ gate: BlackoutGate) { self.gate = gate }

    mutating func hold(_ mode: BlackoutGate.Mode?) async {
        guard mode != held else { return }
        if let held { await gate.release(held) }
        held = nil
        if let mode {
            await gate.acquire(mode)
            held = mode
        }
    }
}

extension RunTracker {
    /// What the run must hold of the gate before handling `event`: exclusive before the agent
    /// is told to start (it kexecs on its own from there), shared before verification, nothing
    /// once the last hop is done. The first kernel's hello also pins QEMU's threads again, to
    /// cover threads started after the first pin.
    mutating func gateMode(before event: VMEvent) -> BlackoutGate.Mode? {
        guard case .agent(let message, _) = event else { return gate?.held }
        switch message {
        case .hello(let hello) where phase == .bootingFirst && hello.stage == 1:
            if let pinning { CPUAffinity.pin(pinning.pid, to: pinning.cores) }
            return .exclusive
        case .resumed:
            return .shared
        case .done:
            return current + 1 < hops.count ? .exclusive : nil
        default:
            return gate?.held
        }
    }
}
