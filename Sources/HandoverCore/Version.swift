/// The version of handover and of its agent protocol.
public enum HandoverVersion {
    public static let tool = "0.1.0"
    /// Bumped whenever a protocol message changes shape; both sides check it in hello.
    public static let protocolVersion = 4
}
