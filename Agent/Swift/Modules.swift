import CLiveUpdate

import HandoverCore

/// The kernel modules the runner put into this stage's initramfs (an image built with
/// `modules:`), loaded before anything else so that a retrieve or a device step finds their
/// drivers and file handlers registered.
enum Modules {
    static func loadListed() -> [ModuleLoad]? {
        guard let order = Files.read("/" + ModuleLoad.orderFile) else { return nil }
        var loads: [ModuleLoad] = []
        for line in order.split(separator: "\n") where !line.isEmpty {
            let path = "/" + String(line)
            var name = String(line.split(separator: "/").last ?? Substring(line))
            if name.hasSuffix(".ko") { name = String(name.dropLast(3)) }
            // The module's own name: kbuild names its file with dashes or underscores alike.
            name = String(name.map { $0 == "-" ? "_" : $0 })
            let fd = hv_open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                loads.append(ModuleLoad(name: name, errno: errno))
                continue
            }
            let rc = hv_finit_module(fd)
            close(fd)
            // EEXIST: already there (built in under the same name, or loaded as a dependency).
            loads.append(ModuleLoad(name: name, errno: rc == 0 || -rc == EEXIST ? nil : -rc))
        }
        return loads
    }
}
