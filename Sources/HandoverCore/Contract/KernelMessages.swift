/// The kernel's own words that handover reads: the agent from /dev/kmsg, the runner from the
/// serial console. Each says what it means and which file prints it (checked in the 7.2.13 and
/// 7.3.4 sources; all of them are in both). A message is matched by this text only here.
public enum KernelMessage: String, CaseIterable, Sendable {
    /// kernel/liveupdate/luo_core.c: "Retrieved live update data, liveupdate number: N" —
    /// the new kernel accepted the handover.
    case retrieved = "Retrieved live update data"
    /// kernel/liveupdate/kexec_handover.c: "KHO: exec from: RELEASE (count N)" — the previous
    /// kernel's release and the kexec count, passed through KHO.
    case execFrom = "exec from:"
    /// arch/x86/mm/init.c, free_initmem(): "Freeing unused kernel image (initmem) memory: NK".
    case freeInitMemory = "Freeing unused kernel image"
    /// init/main.c, kernel_init(): "Run /init as init process" — the kernel is done booting.
    case runInit = "Run /init as init process"
    /// init/initramfs.c, unpack_initramfs(): unpacking the initramfs begins (with
    /// CONFIG_BLK_DEV_RAM)...
    case unpackStart = "Trying to unpack rootfs image as initramfs"
    /// ...or, without CONFIG_BLK_DEV_RAM (the shipped recipes), this line.
    case unpackStartNoRamdisk = "Unpacking initramfs..."
    /// ...and ends when the initrd is freed (mm/memblock.c, free_reserved_area(): "Freeing
    /// initrd memory: NK").
    case unpackEnd = "Freeing initrd memory"
    /// kernel/kexec_core.c, kernel_kexec(): the old kernel's last line before it jumps.
    case kexecStarting = "Starting new kernel"
    /// kernel/liveupdate/luo_core.c: the incoming LUO state has another ABI version.
    case luoIncompatible = "LUO state is incompatible with"
    /// kernel/liveupdate/luo_file.c: no handler for a preserved file's compatible string.
    case noHandler = "No registered handler for compatible"
    /// kernel/liveupdate/luo_session.c: a session's files could not be restored.
    case sessionNotRestored = "Failed to deserialize files for session"
    /// kernel/liveupdate/luo_core.c: the handed-over LUO state is missing or corrupt.
    case stateNotRetrieved = "failed to retrieve LUO state"
    case stateTooSmall = "LUO state is too small"
    /// kernel/liveupdate/luo_core.c: booted without KHO, so LUO is off.
    case khoDisabled = "Disabling liveupdate because KHO is disabled"
    /// kernel/liveupdate/luo_core.c (7.3): any failure of LUO's early restore panics with this.
    case incomingTreeFailed = "The incoming tree failed to initialize"
    /// kernel/panic.c.
    case panic = "Kernel panic - not syncing"
    /// kernel/exit.c: PID 1 (the agent) died.
    case killedInit = "Attempted to kill init"

    /// Lines by which a new kernel says it refused or lost the handed-over state.
    public static let refusals: [KernelMessage] = [
        .luoIncompatible, .noHandler, .sessionNotRestored, .stateNotRetrieved, .stateTooSmall, .khoDisabled, .incomingTreeFailed,
    ]

    public func isIn(_ line: some StringProtocol) -> Bool { line.includes(rawValue) }
}
