#!/usr/bin/env python3
"""The blackout's spread when VMs share the host: the same matrix (N repeats of one pair) with
--jobs 1, with --jobs 2 as it was before isolation (--allow-contention), and with --jobs 2 as
now (pinned when the host has a core per vCPU, blackouts gated otherwise). Prints the median,
CV, range, wall time and the host CPU pressure over each blackout window, and keeps the
results folders (for Benchmarks/false_alarms.py).

Usage: Benchmarks/spread.py [--pair linux-7.3:linux-7.3] [--repeats 8] [--cpus 2] [--accel auto] [--out DIR]

With 2 vCPUs a VM on a 2-core host, --jobs 2 gates the blackouts; with --cpus 1 it pins each VM
to a core of its own.
"""
import argparse, json, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODES = [("jobs1", ["--jobs", "1"]), ("jobs2-contended", ["--jobs", "2", "--allow-contention"]), ("jobs2-isolated", ["--jobs", "2"])]


def run_matrix(h, matrix, out, extra):
    started = time.monotonic()
    done = subprocess.run([h, "matrix", str(matrix), "--out", str(out), "--no-history", "-q", *extra], text=True, capture_output=True)
    wall = time.monotonic() - started
    if done.returncode == 2:
        sys.exit(f"spread: the matrix in {out} broke: {done.stderr[-2000:]}")
    return json.loads((out / "summary.json").read_text()), wall


def figures(summary, wall):
    runs = [r for c in summary["cells"] for r in c["runs"] if r.get("blackout") is not None]
    blackouts = [r["blackout"] for r in runs]
    pressure = [(r.get("contention") or {}).get("cpuSomeShare") for r in runs]
    pressure = [p for p in pressure if p is not None]
    return {"runs": len(runs), "median_s": statistics.median(blackouts), "cv": statistics.stdev(blackouts) / statistics.mean(blackouts),
            "min_s": min(blackouts), "max_s": max(blackouts), "wall_s": wall,
            "disturbed": sum(1 for r in runs if (r.get("contention") or {}).get("disturbed")),
            "pressure_median": statistics.median(pressure) if pressure else None,
            "pressure_max": max(pressure) if pressure else None, "isolation": summary.get("isolation"),
            "accelerator": summary["accelerator"], "blackouts_s": blackouts}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--handover", default=str(ROOT / ".build/debug/handover"))
    parser.add_argument("--pair", default="linux-7.3:linux-7.3")
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--accel", default="auto")
    parser.add_argument("--modes", default=",".join(m for m, _ in MODES))
    parser.add_argument("--out", default=None, help="folder for the matrices' results (default: a temporary one)")
    args = parser.parse_args()
    frm, to = args.pair.split(":")
    work = Path(args.out or tempfile.mkdtemp(prefix="handover-spread-"))
    work.mkdir(parents=True, exist_ok=True)
    matrix = work / "spread.yaml"
    images = [frm] if frm == to else [frm, to]
    matrix.write_text(f"name: spread\nimages: [{', '.join(images)}]\nscenarios: [memfd-basic]\npairs: [{{from: {frm}, to: {to}}}]\n"
                      f"repeats: {args.repeats}\naccel: {args.accel}\ncpus: {args.cpus}\n")
    report = {}
    for mode, extra in MODES:
        if mode not in args.modes.split(","):
            continue
        summary, wall = run_matrix(args.handover, matrix, work / mode, extra)
        f = report[mode] = figures(summary, wall)
        pressure = f"CPU pressure in the blackout median {f['pressure_median'] * 100:.0f}%, max {f['pressure_max'] * 100:.0f}%" if f["pressure_median"] is not None else "no pressure figures"
        print(f"   {mode:16} {f['runs']} runs under {f['accelerator']}: median {f['median_s']:.3f} s, CV {f['cv'] * 100:.1f}%, "
              f"range {f['min_s']:.3f}-{f['max_s']:.3f} s, wall {f['wall_s']:.0f} s; {pressure}; {f['disturbed']} disturbed ({f['isolation']})")
    (work / "spread.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"   results: {work}")


if __name__ == "__main__":
    main()
