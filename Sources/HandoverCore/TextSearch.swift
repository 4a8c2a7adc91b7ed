extension StringProtocol {
    /// Whether `needle` occurs in this text, byte for byte (UTF-8). The standard library's
    /// `contains(_:)` for strings lives in _StringProcessing, which Embedded Swift lacks.
    public func includes(_ needle: some StringProtocol) -> Bool {
        range(ofBytes: needle) != nil
    }

    /// The UTF-8 offsets of the first occurrence of `needle`. Walks the text's own UTF-8 view:
    /// the runner asks this of every console line, so the text is not copied.
    public func range(ofBytes needle: some StringProtocol) -> Range<Int>? {
        let pattern = Array(needle.utf8)
        guard let first = pattern.first else { return 0..<0 }
        var index = utf8.startIndex
        var offset = 0
        while index != utf8.endIndex {
            if utf8[index] == first, utf8[index...].starts(with: pattern) { return offset..<offset + pattern.count }
            utf8.formIndex(after: &index)
            offset += 1
        }
        return nil
    }
}

extension String {
    /// The text after the first occurrence of `needle`, or nil when it does not occur.
    public func text(after needle: some StringProtocol) -> String? {
        guard let range = range(ofBytes: needle) else { return nil }
        return String(decoding: utf8.dropFirst(range.upperBound), as: UTF8.self)
    }
}
