import Foundation
import HandoverSupport
import HandoverImages

/// The architecture axis of a matrix (issue 20): its images may be of several architectures;
/// generated pairs stay within one (MatrixPlan), and explicit pairs or chains that mix them
/// are refused here, from the recipes, before anything is built.
public enum MatrixArchitectures {
    public static func check(_ matrix: MatrixFile, recipes: RecipeCatalog) throws {
        var arches: [String: Architecture] = [:]
        for name in matrix.images {
            arches[name] = try recipes.load(name).arch
        }
        try check(matrix, arches: arches)
    }

    /// The check itself, given each image's architecture.
    public static func check(_ matrix: MatrixFile, arches: [String: Architecture]) throws(InputError) {
        func mixed(_ chain: [String]) -> String? {
            guard Set(chain.compactMap { arches[$0] }).count > 1 else { return nil }
            return chain.map { "\($0) is \(arches[$0]?.rawValue ?? "?")" }.joined(separator: ", ")
        }
        if case .explicit(let pairs) = matrix.pairs {
            for (index, pair) in pairs.enumerated() {
                if let listed = mixed(pair) {
                    throw InputError(file: matrix.file, keyPath: "pairs[\(index)]",
                                     message: "mixes architectures (\(listed)); expected two images of one architecture")
                }
            }
        }
        for (index, chain) in matrix.chains.enumerated() {
            if let listed = mixed(chain) {
                throw InputError(file: matrix.file, keyPath: "chains[\(index)]",
                                 message: "mixes architectures (\(listed)); expected images of one architecture")
            }
        }
    }

    /// The architectures of a matrix's images, in order, for its summary line.
    public static func axis(_ images: [KernelImage]) -> [Architecture] {
        Array(Set(images.map(\.arch))).sorted()
    }
}
