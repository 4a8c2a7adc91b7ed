/// The JSON-lines protocol between the runner and the guest agent over virtio-serial.
/// Every line is one envelope: {"v": protocol version, "type": ..., "body": {...}}.

public struct Hello: Sendable, Equatable {
    public var agentVersion: String
    public var protocolVersion: Int
    public var stage: Int
    public var kernelRelease: String
    public var bootID: String
    public var cmdline: String
    public var liveUpdateDevice: Bool
    /// From "Retrieved live update data, liveupdate number: N" in this boot's kernel log.
    public var liveUpdateNumber: Int?
    /// From "KHO: exec from: RELEASE (count N)".
    public var previousRelease: String?
    public var kexecCount: Int?
    /// Seconds since this kernel started, when the agent began.
    public var uptimeAtStart: Double
    /// Kernel log lines that tell how the handover went (ABI refusals, missing handlers).
    public var liveUpdateLog: [String]
    /// printk times (µs since boot) of boot milestones, read from /dev/kmsg.
    public var bootMarks: [BootMark: Int]
    /// Every initcall's return, when the kernel booted with initcall_debug.
    public var initcalls: [InitcallTiming]?
    /// The modules the agent loaded before anything else (an image built with `modules:`).
    public var modules: [ModuleLoad]?
    /// The counter beside this kernel's printk clock (see `CounterReading.printkMicros`).
    public var counter: CounterReading?

    public init(agentVersion: String, protocolVersion: Int, stage: Int, kernelRelease: String, bootID: String,
                cmdline: String, liveUpdateDevice: Bool, liveUpdateNumber: Int?, previousRelease: String?,
                kexecCount: Int?, uptimeAtStart: Double, liveUpdateLog: [String], bootMarks: [BootMark: Int],
                initcalls: [InitcallTiming]? = nil, counter: CounterReading? = nil, modules: [ModuleLoad]? = nil) {
        self.agentVersion = agentVersion
        self.protocolVersion = protocolVersion
        self.stage = stage
        self.kernelRelease = kernelRelease
        self.bootID = bootID
        self.cmdline = cmdline
        self.liveUpdateDevice = liveUpdateDevice
        self.liveUpdateNumber = liveUpdateNumber
        self.previousRelease = previousRelease
        self.kexecCount = kexecCount
        self.uptimeAtStart = uptimeAtStart
        self.liveUpdateLog = liveUpdateLog
        self.bootMarks = bootMarks
        self.initcalls = initcalls
        self.modules = modules
        self.counter = counter
    }
}

/// The guest's own cycle counter (x86 TSC, arm64 CNTVCT_EL0) read by the agent, with its
/// CLOCK_MONOTONIC at the same moment. Under QEMU's icount both count virtual time, and a
/// kexec resets neither the TSC nor the virtual counter, so two readings in different kernels
/// bracket the blackout on the guest's clock.
public struct CounterReading: Sendable, Equatable {
    public var ticks: UInt64
    /// The counter's frequency as the CPU declares it (arm64 CNTFRQ_EL0); nil on x86, which
    /// declares none (QEMU's TSC under icount ticks once per virtual nanosecond).
    public var hertz: UInt64?
    /// CLOCK_MONOTONIC in microseconds, read right after the counter.
    public var monotonicMicros: Int
    /// The printk time the kernel gave a record the agent wrote to /dev/kmsg right after
    /// reading the counter: where the counter lies on this kernel's printk clock, which
    /// CLOCK_MONOTONIC trails by a few milliseconds (it ran on jiffies early in the boot).
    public var printkMicros: Int?

    public init(ticks: UInt64, hertz: UInt64?, monotonicMicros: Int, printkMicros: Int? = nil) {
        self.ticks = ticks
        self.hertz = hertz
        self.monotonicMicros = monotonicMicros
        self.printkMicros = printkMicros
    }
}

/// One step the agent took and how it ended. `errno` is set when a system call refused.
public struct StepReport: Sendable, Equatable {
    public var stage: Int
    public var step: AgentStep
    public var ok: Bool
    public var detail: String
    public var errno: Int32?
    public var errnoName: String?
    public var microseconds: Int?
    /// The step was not attempted (for example a series ioctl on a kernel without the series).
    public var skipped: Bool?

    public init(stage: Int, step: AgentStep, ok: Bool, detail: String, errno: Int32? = nil,
                errnoName: String? = nil, microseconds: Int? = nil, skipped: Bool? = nil) {
        self.skipped = skipped
        self.stage = stage
        self.step = step
        self.ok = ok
        self.detail = detail
        self.errno = errno
        self.errnoName = errnoName
        self.microseconds = microseconds
    }
}

/// A promise of the uAPI checked in the new kernel, with what was expected and seen.
public struct CheckResult: Sendable, Equatable {
    public var check: Check
    public var passed: Bool
    public var expected: String
    public var observed: String

    public init(_ check: Check, passed: Bool, expected: String, observed: String) {
        self.check = check
        self.passed = passed
        self.expected = expected
        self.observed = observed
    }
}

/// Where a changed chunk first differs from the content the plan wrote.
public struct LocatedDifference: Sendable, Equatable {
    public var object: String
    public var chunk: Int
    public var offset: Int
    public var expected: UInt8
    public var found: UInt8
    public var differingBytes: Int

    public init(object: String, chunk: Int, offset: Int, expected: UInt8, found: UInt8, differingBytes: Int) {
        self.object = object
        self.chunk = chunk
        self.offset = offset
        self.expected = expected
        self.found = found
        self.differingBytes = differingBytes
    }
}

/// A program the agent runs for the runner (the kernel's own selftests).
public struct ExecRequest: Sendable, Equatable {
    public var path: String
    public var arguments: [String]
    public var timeoutSeconds: Int

    public init(path: String, arguments: [String], timeoutSeconds: Int) {
        self.path = path
        self.arguments = arguments
        self.timeoutSeconds = timeoutSeconds
    }
}

/// How a program the agent ran ended, with everything it printed.
public struct ExecResult: Sendable, Equatable {
    public var path: String
    public var arguments: [String]
    public var exitCode: Int32?
    public var signal: Int32?
    public var timedOut: Bool
    public var output: [String]
    public var microseconds: Int
    /// Why it could not run at all (spawn failed).
    public var error: String?

    public init(path: String, arguments: [String], exitCode: Int32?, signal: Int32?, timedOut: Bool,
                output: [String], microseconds: Int, error: String?) {
        self.path = path
        self.arguments = arguments
        self.exitCode = exitCode
        self.signal = signal
        self.timedOut = timedOut
        self.output = output
        self.microseconds = microseconds
        self.error = error
    }
}

public enum AgentMessage: Sendable, Equatable {
    case hello(Hello)
    case step(StepReport)
    /// Stage 1: the state of every object just before it was preserved.
    case fingerprints(stage: Int, [ObjectFingerprint])
    /// Stage 1: everything is preserved and the next kernel loaded; reboot(KEXEC) follows.
    /// `counter` is read right before the reboot (absent from agents before guest timing).
    case quiesce(counter: CounterReading?)
    /// The new kernel's agent holds every preserved object again. `microseconds` is how long
    /// retrieval took; `clock` is the agent's CLOCK_MONOTONIC (µs since this kernel started) when sent;
    /// `counter` is read right after the last retrieve.
    case resumed(retrieved: Int, microseconds: Int, clock: Int, counter: CounterReading? = nil)
    case located([LocatedDifference])
    case checks([CheckResult])
    /// The first kernel cannot do what the scenario needs; nothing was preserved.
    case unsupported(reason: String, errno: Int32?)
    /// The agent gave up; the runner classifies it with what it saw.
    case failed(step: FailurePoint, message: String, errno: Int32?)
    case log(String)
    case done
    case execResult(ExecResult)
    /// A vm scenario's guest made its last exit before the pause (sent at once).
    case vcpuStopped(GuestSample)
    /// A vm scenario's guest made its first exit after the resume (sent at once).
    case vcpuRunning(GuestSample)
    /// A vm scenario's guest after a pause: its progress, and after a resume its checks.
    case vm(VMStageReport)
}

public enum RunnerCommand: Sendable, Equatable {
    /// Stage 1 may begin.
    case start
    /// Stage 2: fingerprint the retrieved objects and locate differences from these.
    case verify([ObjectFingerprint])
    case powerOff
    /// Run a program and report how it ended.
    case exec(ExecRequest)
    /// Load the plan's next kernel and kexec into it, holding nothing itself (the programs it
    /// ran hold their own sessions).
    case kexecNext
}

public struct ProtocolError: Error, CustomStringConvertible, Equatable, Sendable {
    public var line: String
    public var reason: String

    public init(line: String, reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String {
        let shown = line.count > 300 ? String(line.prefix(300)) + "..." : line
        return "malformed protocol line (\(reason)): \(shown)"
    }
}

extension Hello: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("agentVersion", agentVersion)
            $0.add("protocolVersion", protocolVersion)
            $0.add("stage", stage)
            $0.add("kernelRelease", kernelRelease)
            $0.add("bootID", bootID)
            $0.add("cmdline", cmdline)
            $0.add("liveUpdateDevice", liveUpdateDevice)
            $0.add("liveUpdateNumber", liveUpdateNumber)
            $0.add("previousRelease", previousRelease)
            $0.add("kexecCount", kexecCount)
            $0.add("uptimeAtStart", uptimeAtStart)
            $0.add("liveUpdateLog", liveUpdateLog)
            $0.add("bootMarks", [String: Int](uniqueKeysWithValues: bootMarks.map { ($0.key.rawValue, $0.value) }))
            $0.add("initcalls", initcalls)
            $0.add("modules", modules)
            $0.add("counter", counter)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        agentVersion = try o.required("agentVersion")
        protocolVersion = try o.required("protocolVersion")
        stage = try o.required("stage")
        kernelRelease = try o.required("kernelRelease")
        bootID = try o.required("bootID")
        cmdline = try o.required("cmdline")
        liveUpdateDevice = try o.required("liveUpdateDevice")
        liveUpdateNumber = try o.optional("liveUpdateNumber")
        previousRelease = try o.optional("previousRelease")
        kexecCount = try o.optional("kexecCount")
        uptimeAtStart = try o.required("uptimeAtStart")
        liveUpdateLog = try o.required("liveUpdateLog")
        // A mark this runner does not know is one it does not use.
        let marks: [String: Int] = try o.required("bootMarks")
        bootMarks = [:]
        for (name, micros) in marks { if let mark = BootMark(rawValue: name) { bootMarks[mark] = micros } }
        initcalls = try o.optional("initcalls")
        modules = try o.optional("modules")
        counter = try o.optional("counter")
    }
}

extension CounterReading: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("ticks", ticks)
            $0.add("hertz", hertz)
            $0.add("monotonicMicros", monotonicMicros)
            $0.add("printkMicros", printkMicros)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        ticks = try o.required("ticks")
        hertz = try o.optional("hertz")
        monotonicMicros = try o.required("monotonicMicros")
        printkMicros = try o.optional("printkMicros")
    }
}

extension StepReport: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("stage", stage)
            $0.add("step", step)
            $0.add("ok", ok)
            $0.add("detail", detail)
            $0.add("errno", errno)
            $0.add("errnoName", errnoName)
            $0.add("microseconds", microseconds)
            $0.add("skipped", skipped)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        stage = try o.required("stage")
        step = try o.required("step")
        ok = try o.required("ok")
        detail = try o.required("detail")
        errno = try o.optional("errno")
        errnoName = try o.optional("errnoName")
        microseconds = try o.optional("microseconds")
        skipped = try o.optional("skipped")
    }
}

extension CheckResult: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("name", check)
            $0.add("passed", passed)
            $0.add("expected", expected)
            $0.add("observed", observed)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        check = try o.required("name")
        passed = try o.required("passed")
        expected = try o.required("expected")
        observed = try o.required("observed")
    }
}

extension LocatedDifference: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("object", object)
            $0.add("chunk", chunk)
            $0.add("offset", offset)
            $0.add("expected", expected)
            $0.add("found", found)
            $0.add("differingBytes", differingBytes)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        object = try o.required("object")
        chunk = try o.required("chunk")
        offset = try o.required("offset")
        expected = try o.required("expected")
        found = try o.required("found")
        differingBytes = try o.required("differingBytes")
    }
}

extension ExecRequest: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("path", path)
            $0.add("arguments", arguments)
            $0.add("timeoutSeconds", timeoutSeconds)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        path = try o.required("path")
        arguments = try o.required("arguments")
        timeoutSeconds = try o.required("timeoutSeconds")
    }
}

extension ExecResult: JSONConvertible {
    public var json: JSON {
        .build {
            $0.add("path", path)
            $0.add("arguments", arguments)
            $0.add("exitCode", exitCode)
            $0.add("signal", signal)
            $0.add("timedOut", timedOut)
            $0.add("output", output)
            $0.add("microseconds", microseconds)
            $0.add("error", error)
        }
    }

    public init(json: JSON) throws(JSONError) {
        let o = try JSONObject(json)
        path = try o.required("path")
        arguments = try o.required("arguments")
        exitCode = try o.optional("exitCode")
        signal = try o.optional("signal")
        timedOut = try o.required("timedOut")
        output = try o.required("output")
        microseconds = try o.required("microseconds")
        error = try o.optional("error")
    }
}
