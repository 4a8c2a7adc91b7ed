extension StringProtocol {
    /// Whether `needle` occurs in this text, byte for byte (UTF-8). The standard library's
    /// `contains(_:)` for strings lives in _StringProcessing, which Embedded Swift lacks.
    public func includes(_ needle: some StringProtocol) -> Bool {
        range(ofBytes: needle) != nil
    }

    /// The UTF-8 offsets of the first occurrence of `needle`.
    public func range(ofBytes needle: some StringProtocol) -> Range<Int>? {
        let haystack = Array(utf8)
        let pattern = Array(needle.utf8)
        guard !pattern.isEmpty else { return 0..<0 }
        guard pattern.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - pattern.count) where haystack[start] == pattern[0] {
            var matched = true
            for offset in 1..<pattern.count where haystack[start + offset] != pattern[offset] {
                matched = false
                break
            }
            if matched { return start..<start + pattern.count }
        }
        return nil
    }
}

extension String {
    /// The text after the first occurrence of `needle`, or nil when it does not occur.
    public func text(after needle: some StringProtocol) -> String? {
        guard let range = range(ofBytes: needle) else { return nil }
        let bytes = Array(utf8)
        return String(decoding: bytes[range.upperBound...], as: UTF8.self)
    }
}
