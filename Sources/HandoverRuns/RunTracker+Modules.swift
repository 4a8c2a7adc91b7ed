import HandoverCore
import HandoverResults

extension RunTracker {
    /// A module listed for a stage that did not load ends the run, by the rule for built-in
    /// drivers: hardware the module drives is absent in the first kernel -> unsupported; the
    /// same hardware refused by a later kernel -> fail (it cannot take back what needs it);
    /// any other errno (a module of another kernel, an unknown symbol) -> error.
    package func moduleVerdict(_ hello: Hello) -> (Verdict, FailureClass?, String)? {
        guard let failed = hello.modules?.first(where: { !$0.loaded }), let errno = failed.errno else { return nil }
        let kernel = hello.stage == 1 ? first : hops[min(hello.stage - 2, hops.count - 1)].to
        let what = "\(kernel.recipe) (\(kernel.kernelRelease)): module \(failed.name) did not load (errno \(errno))"
        guard ModuleLoad.absentHardware.contains(errno) else {
            return (.error, .infrastructure, what + "; the module does not fit this kernel or the image is damaged")
        }
        if hello.stage == 1 { return (.unsupported, nil, what + ": the hardware or CPU feature it drives is absent") }
        return (.fail, .abiIncompatible, what + ", although the kernel before it drove the same VM's hardware: it cannot take back what needs the module")
    }
}
