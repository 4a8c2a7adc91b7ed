#!/usr/bin/env python3
"""Kernel boot time of two images of one kernel, before and after a configuration change
(issue 27: the tiny guests dropped tinyconfig's legacy ptys). Runs memfd-minimal from each
image to itself, interleaved run by run so both see the same host, and prints the medians of
the blackout's kernelBoot phase (the new kernel's start to `Run /init`) and of the whole
blackout, with the difference. Writes everything to Benchmarks/results/boot-<time>.json.

Usage: Benchmarks/boot.py [--repeats 5] [--timing guest|host] BEFORE AFTER
  BEFORE, AFTER: recipe names or files, e.g.
  Benchmarks/boot/linux-7.3-legacy-ptys.yaml linux-7.3
  Benchmarks/boot/linux-7.3-arm64-legacy-ptys.yaml linux-7.3-arm64
"""
import argparse, json, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from arm64 import one_run  # noqa: E402  (one passing run's blackout phases)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scenario", default="Scenarios/memfd-minimal.yaml")
    parser.add_argument("--handover", default=str(ROOT / ".build/debug/handover"))
    parser.add_argument("--timing", choices=["guest", "host"], default="guest",
                        help="guest: icount guest time, reproducible whatever the host does (default); host: the host clock")
    args = parser.parse_args()
    for image in (args.before, args.after):
        built = subprocess.run([args.handover, "image", "build", image], cwd=ROOT, text=True, capture_output=True)
        if built.returncode != 0:
            sys.exit(f"image {image} did not build: {built.stderr[-800:]}")

    samples = {args.before: [], args.after: []}
    for index in range(args.repeats):
        for image in (args.before, args.after):
            phases, _ = one_run(args.handover, args.scenario, image, image, extra=["--timing", args.timing],
                                blackout_key="guestBlackout" if args.timing == "guest" else "blackout")
            samples[image].append({"kernelBoot": phases["kernelBoot"], "total": phases["total"]})
            print(f"run {index + 1}/{args.repeats} {image}: kernel boot {samples[image][-1]['kernelBoot']:.3f} s", file=sys.stderr)

    medians = {image: {phase: statistics.median(run[phase] for run in runs) for phase in ("kernelBoot", "total")}
               for image, runs in samples.items()}
    for phase in ("kernelBoot", "total"):
        before, after = medians[args.before][phase], medians[args.after][phase]
        print(f"{phase:10s} median of {args.repeats}: {before:.3f} s -> {after:.3f} s ({after - before:+.3f} s, ratio {after / before:.2f})")
    results = ROOT / "Benchmarks" / "results"
    results.mkdir(exist_ok=True)
    file = results / f"boot-{time.strftime('%Y%m%d-%H%M%S')}.json"
    file.write_text(json.dumps({"scenario": args.scenario, "timing": args.timing, "samples": samples, "medians": medians}, indent=2))
    print(f"written to {file}")


if __name__ == "__main__":
    main()
