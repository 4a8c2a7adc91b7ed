#!/usr/bin/env python3
"""The minimal-init baseline: the same kernel pair in the same VM shape, with upstream's
luo_kexec_simple selftest and its init (tools/testing/selftests/liveupdate, built from the
image's own tree as upstream's vmtest.sh builds them) as the whole payload, side by side with
handover running a scenario (default memfd-minimal: the one small memfd the selftest preserves,
so only the harness differs), alternating, median of repeats. Both are timed from their console
logs on the host clock, so the same points are compared:

  kexec -> first line   host time of `Starting new kernel` to the new kernel's first console line
  run-init printk       the new kernel's own printk time at `Run /init`
  kexec -> ready        `Starting new kernel` to the payload's "restored and verified" moment
                        (handover: the agent's resumed message; upstream: its "[STAGE 2] Test
                        data verified successfully" line)
  blackout              the payload's last word before the kexec to that moment (handover:
                        quiesce; upstream: "INIT: Stage 1 completed successfully")

and the payload (initramfs) bytes per stage.

--variants adds minimal-init arms that each bring back one thing handover has, to find what
the new kernel's longer boot to /init comes from:

  padded   the inner initramfs carries a file of random bytes as large as handover's agent, so
           the new kernel unpacks as many bytes of content (padding with zeros after the
           archive would be skipped, not unpacked)
  agent    the inner initramfs carries handover's agent binary itself (its bytes as content)
  device   handover's virtio-serial device and port (the agent's channel), on a null chardev

Usage: Benchmarks/minimal_init.py [--scenario memfd-minimal] [--variants padded,agent,device] [--from linux-7.3] [--to linux-7.3] [--repeats 5] [--accel auto]
                                  [--variants padded,device]
"""
import argparse, json, os, re, shlex, socket, statistics, subprocess, sys, tempfile, threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = "tools/testing/selftests/liveupdate"
PRINTK = re.compile(r"^\[\s*(\d+\.\d+)\]")


def image_info(h, name):
    out = subprocess.run([h, "image", "show", name, "--json"], text=True, capture_output=True)
    if out.returncode != 0:
        sys.exit(f"minimal_init: `handover image show {name}` failed: {out.stderr.strip()}")
    info = json.loads(out.stdout)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "handover/images" / info["key"]
    info["folder"] = cache
    return info


def build_payload(source, other, kernel_b, work, pad_bytes=0, tag="", pad_file=None):
    """Upstream's init and luo_kexec_simple, static with nolibc, from `source`'s tree; init.c
    from `other`'s tree when `source`'s predates it (7.2 has the test but not the init)."""
    tree = Path(source["sourceTree"] or "")
    tests = tree / TESTS
    if not (tests / "luo_kexec_simple.c").exists():
        sys.exit(f"minimal_init: {source['recipe']} has no {TESTS}/luo_kexec_simple.c in {tree}")
    init_tree = tree if (tests / "init.c").exists() else Path(other["sourceTree"] or "")
    if not (init_tree / TESTS / "init.c").exists():
        sys.exit(f"minimal_init: neither {source['recipe']} nor {other['recipe']} has {TESTS}/init.c")
    headers = source["folder"] / "headers/include"
    nolibc = tree / "tools/include/nolibc"
    helper = tests / "lib/lu_utils.c" if (tests / "lib/lu_utils.c").exists() else tests / "luo_test_utils.c"
    includes = ["-I", str(tests), "-I", str(tests / "lib/include")]
    builds = [
        ["gcc", "-static", "-O2", "-nostdinc", "-nostdlib", "-I", str(headers), "-I", str(nolibc), *includes,
         "-o", str(work / "test_binary"), str(tests / "luo_kexec_simple.c"), str(helper)],
        ["gcc", "-s", "-static", "-Os", "-nostdinc", "-nostdlib", "-fno-asynchronous-unwind-tables", "-fno-ident",
         "-fno-stack-protector", "-I", str(headers), "-I", str(init_tree / "tools/include/nolibc"), "-o", str(work / "init"),
         str(init_tree / TESTS / "init.c")],
    ]
    # Older trees' tests need libc (as handover's SelftestBuilder finds): static glibc then.
    glibc = ["gcc", "-static", "-O2", "-D_GNU_SOURCE", "-isystem", str(headers), *includes,
             "-o", str(work / "test_binary"), str(tests / "luo_kexec_simple.c"), str(helper)]
    linkage = "nolibc"
    for index, cmd in enumerate(builds):
        out = subprocess.run(cmd, text=True, capture_output=True)
        if out.returncode != 0 and index == 0:
            linkage = "glibc-static"
            out = subprocess.run(glibc, text=True, capture_output=True)
        if out.returncode != 0:
            sys.exit(f"minimal_init: {' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    common = [("dir", "/dev"), ("dir", "/proc"), ("dir", "/debugfs"), ("console", "/dev/console"),
              ("file", "/init", work / "init", 0o755), ("file", "/test_binary", work / "test_binary", 0o755)]
    inner = work / f"inner{tag}.cpio"
    inner_entries = list(common)
    if pad_bytes:
        (work / "pad").write_bytes(os.urandom(pad_bytes))
        inner_entries.append(("file", "/pad", work / "pad", 0o644))
    if pad_file:
        inner_entries.append(("file", "/pad", pad_file, 0o755))
    write_cpio(inner, inner_entries)
    outer = work / f"outer{tag}.cpio"
    write_cpio(outer, common + [("file", "/kernel", kernel_b, 0o644), ("file", "/initrd.img", inner, 0o644)])
    return outer, {"stage1_bytes": outer.stat().st_size, "stage2_bytes": inner.stat().st_size,
                   "init_bytes": (work / "init").stat().st_size, "test_bytes": (work / "test_binary").stat().st_size,
                   "test_linkage": linkage}


def write_cpio(path, entries):
    """A newc archive: directories, /dev/console (char 5:1) and regular files."""
    def header(ino, mode, size, name, rdev=(0, 0), nlink=1):
        fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
        return b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"

    def pad(n):
        return b"\0" * ((4 - n % 4) % 4)

    with open(path, "wb") as out:
        for ino, entry in enumerate(entries, start=1):
            kind, name = entry[0], entry[1].lstrip("/")
            if kind == "dir":
                h = header(ino, 0o040755, 0, name, nlink=2)
                out.write(h + pad(len(h)))
            elif kind == "console":
                h = header(ino, 0o020600, 0, name, rdev=(5, 1))
                out.write(h + pad(len(h)))
            else:
                data = Path(entry[2]).read_bytes()
                h = header(ino, 0o100000 | entry[3], len(data), name)
                out.write(h + pad(len(h)) + data + pad(len(data)))
        h = header(len(entries) + 1, 0, 0, "TRAILER!!!")
        out.write(h + pad(len(h)))


def qemu_shape(handover_out):
    """The handover run's own QEMU command line (its VM shape), without the agent's channel and QMP."""
    argv = shlex.split((Path(handover_out) / "qemu-command").read_text())
    kept, skip = [], 0
    for i, arg in enumerate(argv):
        if skip:
            skip -= 1
            continue
        if arg in ("-chardev", "-device", "-qmp", "-serial") and i + 1 < len(argv) and \
                ("agent" in argv[i + 1] or "virtio-serial" in argv[i + 1] or "qmp" in argv[i + 1] or "console" in argv[i + 1]):
            skip = 1
            continue
        kept.append(arg)
    return kept


def run_minimal(shape, kernel_a, outer, cmdline, timeout=300, device=False):
    """Boots the minimal payload; returns [(host seconds since start, line)] from the serial console."""
    sock_dir = Path(tempfile.mkdtemp(prefix="handover-minimal-"))
    sock = sock_dir / "console.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.listen(1)
    listener.settimeout(30)
    argv = list(shape)
    for flag, value in (("-kernel", str(kernel_a)), ("-initrd", str(outer)), ("-append", cmdline)):
        argv[argv.index(flag) + 1] = value
    argv += ["-chardev", f"socket,id=console,path={sock}", "-serial", "chardev:console"]
    if device:
        argv += ["-device", "virtio-serial-pci,id=virtio-serial0", "-chardev", "null,id=agent",
                 "-device", "virtserialport,bus=virtio-serial0.0,chardev=agent,name=org.handover.agent"]
    started = time.monotonic()
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines = []
    try:
        console, _ = listener.accept()
        console.settimeout(timeout)
        buffer = b""
        while True:
            chunk = console.recv(65536)
            if not chunk:
                break
            now = time.monotonic() - started
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                lines.append((now, line.decode(errors="replace").rstrip("\r")))
        qemu.wait(timeout=timeout)
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        listener.close()
        sock.unlink(missing_ok=True)
        sock_dir.rmdir()
    return lines


def kexec_figures(lines, ready_host, start_host):
    """The figures both payloads share, from (host time, console line) pairs."""
    kexec = next((t for t, l in lines if "Starting new kernel" in l), None)
    if kexec is None:
        return None
    after = [(t, l) for t, l in lines if t >= kexec and "Starting new kernel" not in l]
    first = next((t for t, l in after if PRINTK.match(l)), None)
    run_init = next((float(PRINTK.match(l).group(1)) for t, l in after if PRINTK.match(l) and "Run /init" in l), None)
    run_init_host = next((t for t, l in after if "Run /init" in l), None)
    return {"kexec_to_first_line_s": first - kexec if first else None, "run_init_printk_s": run_init,
            "first_line_to_run_init_host_s": run_init_host - first if run_init_host and first else None,
            "kexec_to_ready_s": ready_host - kexec if ready_host else None,
            "blackout_s": ready_host - start_host if ready_host and start_host else None}


def handover_console(out):
    lines = []
    for raw in (Path(out) / "console.log").read_text(errors="replace").splitlines():
        m = re.match(r"^\[\s*(\d+\.\d+)\] (.*)$", raw)
        if m:
            lines.append((float(m.group(1)), m.group(2)))
    return lines


def handover_once(h, scenario, frm, to, accel, out):
    cmd = [h, "run", scenario, "--from", frm, "--to", to, "--accel", accel, "--out", str(out), "--json", "-q", "--keep"]
    done = subprocess.run(cmd, text=True, capture_output=True)
    if done.returncode not in (0, 1):
        sys.exit(f"minimal_init: {' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    times = {}
    for entry in map(json.loads, (Path(out) / "transcript.jsonl").read_text().splitlines()):
        kind = json.loads(entry["line"]).get("type") if entry["from"] == "agent" else None
        if kind in ("quiesce", "resumed") and kind not in times:
            times[kind] = entry["t"]
    figures = kexec_figures(handover_console(out), times.get("resumed"), times.get("quiesce"))
    run_dir = Path(result["runDirectory"])
    payload = {"stage1_bytes": (run_dir / "initrd-1.cpio").stat().st_size, "stage2_bytes": (run_dir / "initrd-2.cpio").stat().st_size}
    subprocess.run(["rm", "-rf", str(run_dir)])
    return result, figures, payload


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def measure(h, scenario, frm, to, accel, repeats, work, variants=()):
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    a, b = image_info(h, frm), image_info(h, to)
    outer, minimal_payload = build_payload(a, b, b["folder"] / "bzImage", work)
    minimal_payload["init_from"] = a["recipe"] if (Path(a["sourceTree"] or "") / TESTS / "init.c").exists() else b["recipe"]
    rounds = {"handover": [], "minimal": [], **{f"minimal+{v}": [] for v in variants}}
    payloads = {"minimal": minimal_payload}
    outers = {"minimal": outer}
    handover_payload, accelerator, shape, cmdline = None, None, None, None
    for i in range(repeats):
        out = work / f"handover-{i}"
        result, figures, handover_payload = handover_once(h, scenario, frm, to, accel, out)
        accelerator = result["accelerator"]
        if shape is None:
            shape = qemu_shape(out)
            appended = shape[shape.index("-append") + 1].split()
            cmdline = " ".join(w for w in appended if not w.startswith("handover.") and not w.startswith("SWIFT_ROOT="))
        if figures and result["verdict"] == "pass":
            rounds["handover"].append(figures)
        if "padded" in variants and "minimal+padded" not in outers:
            pad = max(0, handover_payload["stage2_bytes"] - minimal_payload["stage2_bytes"])
            outers["minimal+padded"], payloads["minimal+padded"] = build_payload(a, b, b["folder"] / "bzImage", work, pad, "-padded")
        if "agent" in variants and "minimal+agent" not in outers:
            agent = Path(h).resolve().parent.parent / "agent/x86_64/handover-agent"
            outers["minimal+agent"], payloads["minimal+agent"] = build_payload(a, b, b["folder"] / "bzImage", work, 0, "-agent", agent)
        if "device" in variants:
            outers["minimal+device"], payloads["minimal+device"] = outer, minimal_payload
        for side in [s for s in rounds if s != "handover"]:
            lines = run_minimal(shape, a["folder"] / "bzImage", outers[side], cmdline, device=side == "minimal+device")
            ready = next((t for t, l in lines if "Test data verified successfully" in l), None)
            start = next((t for t, l in lines if "INIT: Stage 1 completed successfully" in l), None)
            passed = any("SIMPLE KEXEC TEST PASSED" in l for _, l in lines)
            figures = kexec_figures(lines, ready, start)
            if figures and passed:
                rounds[side].append(figures)
            else:
                (work / f"{side}-{i}.log").write_text("\n".join(f"[{t:10.6f}] {l}" for t, l in lines) + "\n")
    report = {"scenario": scenario, "from": frm, "to": to, "accelerator": accelerator, "repeats": repeats, "cmdline": cmdline,
              "shape": " ".join(w for w in shape if not w.startswith("/")) if shape else None,
              "payload": {"handover": handover_payload, **payloads}}
    for side, runs in rounds.items():
        report[side] = {"runs": len(runs), "each": runs, **{k: median([r[k] for r in runs]) for k in
                        ("kexec_to_first_line_s", "run_init_printk_s", "first_line_to_run_init_host_s", "kexec_to_ready_s", "blackout_s")}}
    h_ready, m_ready = report["handover"]["kexec_to_ready_s"], report["minimal"]["kexec_to_ready_s"]
    report["ready_ratio"] = h_ready / m_ready if h_ready and m_ready else None
    return report


def show(report):
    def s(v):
        return f"{v:.3f} s" if v is not None else "-"
    print(f"   {report['from']} -> {report['to']} under {report['accelerator']}, {report['repeats']} alternating rounds, medians:")
    sides = [k for k in report if k == "handover" or k.startswith("minimal")]
    print(f"   {'':34}" + "".join(f"{('handover ' + report['scenario'] if k == 'handover' else k.replace('minimal', 'minimal init')):>24}" for k in sides))
    for key, label in (("kexec_to_first_line_s", "Starting new kernel -> first line"), ("run_init_printk_s", "new kernel's printk at Run /init"),
                       ("first_line_to_run_init_host_s", "first line -> Run /init (host)"), ("kexec_to_ready_s", "Starting new kernel -> ready"), ("blackout_s", "last word before kexec -> ready")):
        print(f"   {label:34}" + "".join(f"{s(report[k][key]):>24}" for k in sides))
    for k in sides:
        if k.startswith("minimal+"):
            p = report["payload"][k]
            print(f"   {k}: payload stage 1 {p['stage1_bytes']:,}, stage 2 {p['stage2_bytes']:,} bytes")
    p = report["payload"]
    print(f"   payload bytes: handover stage 1 {p['handover']['stage1_bytes']:,}, stage 2 {p['handover']['stage2_bytes']:,}; "
          f"minimal stage 1 {p['minimal']['stage1_bytes']:,}, stage 2 {p['minimal']['stage2_bytes']:,}")
    if report["ready_ratio"]:
        print(f"   kexec -> ready, handover over minimal: {report['ready_ratio']:.3f} (goal <= 1.05)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--handover", default=str(ROOT / ".build/debug/handover"))
    parser.add_argument("--scenario", default="memfd-minimal", help="handover's side (memfd-basic shows what preserving 37 MiB adds)")
    parser.add_argument("--from", dest="frm", default="linux-7.3")
    parser.add_argument("--to", default="linux-7.3")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--accel", default="auto")
    parser.add_argument("--variants", default="", help="comma-separated: padded, agent, device")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if any(v not in ("padded", "agent", "device") for v in variants):
        sys.exit(f"minimal_init: --variants takes padded, agent and device, not {args.variants!r}")
    os.chdir(ROOT)
    report = measure(args.handover, args.scenario, args.frm, args.to, args.accel, args.repeats, tempfile.mkdtemp(prefix="handover-minimal-"), variants)
    show(report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
