import Foundation
import HandoverSupport
import HandoverImages

extension GlobalOptions {
    /// The architecture a kernel named as `run` takes it (recipe name or path, or image key)
    /// will have, without building anything: the recipe's `arch:`, else the cached image's.
    /// nil when neither tells (building it will).
    func architecture(of name: String) -> Architecture? {
        let isPath = name.contains("/") || name.hasSuffix(".yaml")
        if isPath || catalog.names().contains(name) { return (try? catalog.load(name))?.arch }
        return (try? ImageStore(paths: paths).locate(name))??.arch
    }

    /// Refuses kernels of mixed architectures before any of them is built or booted.
    func requireOneArchitecture(_ names: [String]) throws {
        let known = names.compactMap { name in architecture(of: name).map { (name, $0) } }
        guard Set(known.map(\.1)).count > 1 else { return }
        let listed = known.map { "\($0.0) is \($0.1.rawValue)" }.joined(separator: ", ")
        throw HarnessError(.configRejected, "the kernels mix architectures (\(listed)): a live update hands over between kernels of one architecture; pick kernels of the same arch")
    }
}
