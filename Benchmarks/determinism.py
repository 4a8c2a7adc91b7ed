#!/usr/bin/env python3
"""How reproducible the guest-clock blackout is (issue 28): A/A repeats of one pair with
`--timing guest` (QEMU's icount, one vCPU), each a separate `handover run`, and the spread
(max / min - 1) of the guest-clock blackout and of each of its phases, beside the host-clock
blackout's spread over the same runs. Optionally with a CPU burner on the host the whole time
(`--load N`: N busy processes), to show the host cannot move guest time.

Also checks, on every run, what the guest-clock figure rests on: the counter went forward
across the kexec (the jump from "Starting new kernel" to the new kernel's clock zero is
positive and small) and the phases add up to the total.

Usage: Benchmarks/determinism.py [--scenario memfd-basic] [--from linux-7.2] [--to linux-7.3]
                                 [--repeats 10] [--load 0] [--quiet-console] [--handover PATH] [--out FILE]

--quiet-console boots with loglevel 4: whatever the console still costs in guest time (a full
FIFO would stall the guest's UART; it holds a megabyte) goes with most of its lines.
"""
import argparse, json, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHASES = ["shutdown", "oldKernel", "jump", "kernelBoot", "initramfsUnpack", "agentStart", "restore", "unaccounted"]


def spread(values):
    values = [v for v in values if v is not None]
    if len(values) < 2 or min(values) <= 0:
        return None
    return max(values) / min(values) - 1


def burners(count):
    """count processes that spin until killed: a host as busy as a CI runner building a kernel."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def run_once(h, args, out):
    done = subprocess.run([h, "run", args.scenario, "--from", args.frm, "--to", args.to, "--accel", "tcg",
                           "--timing", "guest", "--out", str(out), "-q", *(["--quiet-console"] if args.quiet_console else [])],
                          text=True, capture_output=True)
    path = out / "result.json"
    if not path.exists():
        sys.exit(f"determinism: `handover run` wrote no result in {out}: {done.stderr[-2000:]}")
    result = json.loads(path.read_text())
    if result["verdict"] != "pass" or not result.get("guestBlackout"):
        print(f"   ({result['verdict']}: {result['reason']}; no guest-clock blackout, left out)", file=sys.stderr)
        return None
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="memfd-basic")
    parser.add_argument("--from", dest="frm", default="linux-7.2")
    parser.add_argument("--to", default="linux-7.3")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--load", type=int, default=0, help="busy processes on the host during the runs")
    parser.add_argument("--quiet-console", action="store_true", help="boot every kernel with loglevel 4")
    parser.add_argument("--handover", default=str(ROOT / ".build/debug/handover"))
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    if args.repeats < 2:
        sys.exit("determinism: a spread needs --repeats 2 or more")

    load = burners(args.load)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="handover-determinism-") as folder:
            for index in range(args.repeats):
                started = time.monotonic()
                result = run_once(args.handover, args, Path(folder) / f"run-{index + 1}")
                if result is None:
                    continue
                guest, host = result["guestBlackout"], result.get("blackout") or {}
                print(f"run {index + 1}: guest clock {guest['total'] * 1000:.3f} ms, host clock "
                      f"{host.get('total', 0) * 1000:.1f} ms ({time.monotonic() - started:.0f} s wall)", flush=True)
                results.append(result)
    finally:
        for process in load:
            process.kill()
    if len(results) < 2:
        sys.exit("determinism: fewer than two runs passed with a guest-clock blackout")

    guest = [r["guestBlackout"] for r in results]
    host = [r["blackout"]["total"] for r in results if r.get("blackout")]
    figures = {
        "scenario": args.scenario, "from": args.frm, "to": args.to, "runs": len(results), "hostLoad": args.load,
        "quietConsole": args.quiet_console,
        "guestTotalSeconds": [g["total"] for g in guest],
        "guestBlackouts": guest,
        "guestSpread": spread([g["total"] for g in guest]),
        "hostTotalSeconds": host,
        "hostSpread": spread(host),
        "phaseSpread": {name: spread([g.get(name) for g in guest]) for name in PHASES if any(g.get(name) for g in guest)},
        # What the figure rests on: the counter ran on across the kexec (a positive jump) and the
        # phases explain the whole (the attributed share).
        "jumpSeconds": [g.get("jump") for g in guest],
        "attributedShare": [g.get("attributedShare") for g in guest],
    }
    print()
    console = "quiet console" if args.quiet_console else "full console"
    print(f"{args.scenario} {args.frm} -> {args.to}, {len(results)} runs, {console}, {args.load} busy host processes")
    print(f"  guest clock: min {min(figures['guestTotalSeconds']) * 1000:.3f} ms, max {max(figures['guestTotalSeconds']) * 1000:.3f} ms,"
          f" spread {figures['guestSpread'] * 100:.3f}%")
    if figures["hostSpread"] is not None:
        print(f"  host clock:  min {min(host) * 1000:.1f} ms, max {max(host) * 1000:.1f} ms, spread {figures['hostSpread'] * 100:.1f}%")
    for name, value in figures["phaseSpread"].items():
        if value is not None:
            print(f"    {name}: spread {value * 100:.3f}%")
    jumps = [j for j in figures["jumpSeconds"] if j is not None]
    if jumps:
        print(f"  counter across the kexec: jump {min(jumps) * 1000:.3f} .. {max(jumps) * 1000:.3f} ms"
              f" ({'continuous' if min(jumps) > 0 else 'NOT continuous: a negative jump'})")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
