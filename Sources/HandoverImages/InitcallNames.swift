import Foundation
import HandoverCore

/// Names for initcalls the kernel could only print as addresses (built without kallsyms, as
/// the shipped recipes are): looked up in the System.map kept beside the image when it was
/// built. The kernels booted with --initcalls run with nokaslr, so the addresses are the
/// link addresses the map lists.
package struct InitcallNames {
    /// Text symbols by address, sorted.
    let symbols: [(address: UInt64, name: String)]

    package init(systemMap text: String) {
        symbols = text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, "tTwW".contains(fields[1]), let address = UInt64(fields[0], radix: 16) else { return nil }
            return (address, String(fields[2]))
        }.sorted { $0.address < $1.address }
    }

    package static func load(_ image: KernelImage) -> InitcallNames? {
        guard let folder = image.folder,
              let text = try? String(contentsOf: folder.appendingPathComponent("System.map"), encoding: .utf8) else { return nil }
        return InitcallNames(systemMap: text)
    }

    /// "0xffffffff81234560" → "populate_rootfs" (with "+0x10" when inside the function);
    /// anything else unchanged.
    func name(_ printed: String) -> String {
        guard printed.hasPrefix("0x"), let address = UInt64(printed.dropFirst(2), radix: 16) else { return printed }
        var low = 0, high = symbols.count
        while low < high {
            let middle = (low + high) / 2
            if symbols[middle].address <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return printed }
        let symbol = symbols[low - 1]
        return symbol.address == address ? symbol.name : "\(symbol.name)+0x\(String(address - symbol.address, radix: 16))"
    }

    package func resolve(_ initcalls: [InitcallTiming]) -> [InitcallTiming] {
        initcalls.map { call in
            var named = call
            named.name = name(call.name)
            return named
        }
    }
}
