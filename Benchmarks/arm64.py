#!/usr/bin/env python3
"""arm64 beside x86_64 (issue 20): the blackout and its phases of the same scenario between
the same kernel versions, once as x86_64 images (qemu-system-x86_64, pc) and once as arm64
images (qemu-system-aarch64, virt), both under TCG on this host, interleaved run by run so
both see the same host. Prints medians per phase and the arm64/x86_64 ratios, and writes
everything to Benchmarks/results/arm64-<time>.json.

Under TCG the absolute times say little (an arm64 guest is emulated instruction by
instruction on an x86_64 host, an x86_64 guest mostly so); the ratios measured in the same
run are what to compare, and only on like hosts.

Usage: Benchmarks/arm64.py [--repeats N] [--scenario FILE] [--pair FROM TO] [--handover PATH]
  --pair takes the x86_64 recipe names; the arm64 ones are NAME-arm64.
"""
import argparse, json, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHASES = ["total", "shutdown", "kernelBoot", "agentStart", "restore", "unaccounted"]


def one_run(handover, scenario, first, second, extra=(), blackout_key="blackout"):
    """One passing run's blackout phases (`blackout_key`: guestBlackout with --timing guest)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [handover, "run", scenario, "--from", first, "--to", second, "--accel", "tcg", "--json", "--out", out, *extra]
        process = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True)
        try:
            result = json.loads(process.stdout)
        except json.JSONDecodeError:
            sys.exit(f"{' '.join(cmd)} gave no result (exit {process.returncode}): {process.stderr[-800:]}")
        if result.get("verdict") != "pass":
            sys.exit(f"{first} -> {second}: {result.get('verdict')} ({result.get('reason')}); benchmarks need passing runs")
        blackout = result.get(blackout_key) or {}
        return {phase: blackout.get(phase) for phase in PHASES}, result.get("wallSeconds")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scenario", default="Scenarios/memfd-basic.yaml")
    parser.add_argument("--pair", nargs=2, default=["linux-7.2", "linux-7.3"])
    parser.add_argument("--handover", default=str(ROOT / ".build/debug/handover"))
    args = parser.parse_args()
    arches = {"x86_64": args.pair, "arm64": [f"{name}-arm64" for name in args.pair]}
    for arch, pair in arches.items():
        for name in pair:
            if subprocess.run([args.handover, "image", "show", name], cwd=ROOT, capture_output=True).returncode != 0:
                sys.exit(f"image {name} ({arch}) is not built: {args.handover} image build {name}")

    samples = {arch: [] for arch in arches}
    walls = {arch: [] for arch in arches}
    for index in range(args.repeats):
        for arch, (first, second) in arches.items():
            phases, wall = one_run(args.handover, args.scenario, first, second)
            samples[arch].append(phases)
            walls[arch].append(wall)
            print(f"  {index + 1}/{args.repeats} {arch:7} {first} -> {second}: blackout {phases['total']:.3f} s, run {wall:.1f} s",
                  file=sys.stderr)

    table = {arch: {phase: median([s[phase] for s in samples[arch]]) for phase in PHASES} for arch in arches}
    print(f"{args.scenario}, {args.pair[0]} -> {args.pair[1]}, TCG, {args.repeats} runs each (medians, seconds)")
    print(f"{'phase':12} {'x86_64':>9} {'arm64':>9} {'arm64/x86':>10}")
    for phase in PHASES:
        x, a = table["x86_64"][phase], table["arm64"][phase]
        ratio = f"{a / x:10.2f}" if x and a is not None else f"{'-':>10}"
        print(f"{phase:12} {x if x is not None else float('nan'):9.3f} {a if a is not None else float('nan'):9.3f} {ratio}")
    print(f"{'whole run':12} {median(walls['x86_64']):9.1f} {median(walls['arm64']):9.1f} {median(walls['arm64']) / median(walls['x86_64']):10.2f}")

    results = ROOT / "Benchmarks/results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / time.strftime("arm64-%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps({"scenario": args.scenario, "pair": args.pair, "repeats": args.repeats, "accelerator": "tcg",
                                "medians": table, "samples": samples, "wallSeconds": walls}, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
