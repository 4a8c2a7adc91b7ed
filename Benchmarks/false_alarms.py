#!/usr/bin/env python3
"""A/A false alarms and detection of the blackout judgement, measured on real blackouts.

Takes matrix results folders that ran the same pair many times (same kernels, same
accelerator), pools their repeats, and runs `handover compare` on summaries made of two
disjoint random draws of N repeats each:
  A/A        both draws as they are: any regression flagged is a false alarm;
  detection  the second draw with one second added to its blackout and to its kernelBoot
             phase (a kernel that boots a second slower; recorded samples, shifted);
and reports how often each was flagged, beside what the old rule (median grew by more than
the threshold) would have said. Seeded: the same folders give the same figures.

Usage: Benchmarks/false_alarms.py RESULTS_DIR [RESULTS_DIR...] [--draw 8] [--trials 20] [--shift 1.0]
                                  [--ignore-contention]
  --ignore-contention  judge disturbed repeats too (they are left out otherwise), to see the
                       statistics alone on a host that was busy throughout
"""
import argparse, copy, json, random, statistics, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stats(values):
    values = sorted(values)
    n = len(values)
    def q(p):
        pos = p * (n - 1)
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        return values[lo] + (values[hi] - values[lo]) * (pos - lo)
    mean = sum(values) / n
    sd = statistics.stdev(values) if n > 1 else 0
    return {"count": n, "min": values[0], "median": q(0.5), "p95": q(0.95), "max": values[-1], "mean": mean,
            "coefficientOfVariation": sd / mean if mean else 0}


def summary_with(template, cell, runs, folder):
    summary = copy.deepcopy(template)
    cell = copy.deepcopy(cell)
    cell["runs"] = runs
    cell["regressions"] = []
    cell.pop("blackoutChange", None)
    cell["blackout"] = stats([r["blackout"] for r in runs])
    summary["cells"] = [cell]
    summary["missingRuns"] = []
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def compare(h, base, new, threshold):
    done = subprocess.run([h, "compare", str(base), str(new), "--threshold", str(threshold)], text=True, capture_output=True)
    if done.returncode not in (0, 1):
        sys.exit(f"false_alarms: handover compare failed ({done.returncode}): {done.stderr}")
    judged = [l.strip() for l in done.stdout.splitlines() if l.startswith("  ") and ("regressed:" in l or "unchanged:" in l
              or "inconclusive:" in l or "improved:" in l or "not judged:" in l)]
    return done.returncode == 1, judged[0] if judged else ""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--handover", default=str(ROOT / ".build/debug/handover"))
    parser.add_argument("--draw", type=int, default=8)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--shift", type=float, default=1.0)
    parser.add_argument("--threshold", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--ignore-contention", action="store_true")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()

    template, cell, pool, accelerators, disturbed = None, None, [], set(), 0
    for folder in args.folders:
        summary = json.loads((Path(folder) / "summary.json").read_text())
        accelerators.add(summary["accelerator"])
        for c in summary["cells"]:
            if cell is None:
                template, cell = summary, c
            if c["scenario"] != cell["scenario"] or c["chain"] != cell["chain"]:
                continue
            for run in c["runs"]:
                if run.get("blackout") is not None and run["verdict"] == "pass":
                    run = dict(run)
                    run["id"] = f"{run['id']}@{Path(folder).name}"
                    disturbed += bool((run.get("contention") or {}).get("disturbed"))
                    if args.ignore_contention:
                        run.pop("contention", None)
                    pool.append(run)
    if len(accelerators) > 1:
        sys.exit(f"false_alarms: the folders ran under different accelerators ({', '.join(sorted(accelerators))})")
    if len(pool) < 2 * args.draw:
        sys.exit(f"false_alarms: {len(pool)} passing repeats of {cell['scenario']} {' -> '.join(cell['chain'])}; need {2 * args.draw}")
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="handover-false-alarms-"))
    counts = {"aa": 0, "aa_old_rule": 0, "shifted": 0, "shifted_old_rule": 0}
    examples = {}
    for trial in range(args.trials):
        draw = rng.sample(pool, 2 * args.draw)
        a, b = draw[:args.draw], draw[args.draw:]
        for i, run in enumerate(a + b):
            run["repeatIndex"] = i % args.draw + 1
        base = summary_with(template, cell, a, work / f"{trial}-base")
        flagged, text = compare(args.handover, base, summary_with(template, cell, b, work / f"{trial}-aa"), args.threshold)
        counts["aa"] += flagged
        examples.setdefault("aa", text)
        counts["aa_old_rule"] += statistics.median(r["blackout"] for r in b) > (1 + args.threshold) * statistics.median(r["blackout"] for r in a)
        shifted = []
        for run in b:
            run = copy.deepcopy(run)
            run["blackout"] += args.shift
            run["hopBlackouts"] = [v + args.shift if v is not None else None for v in run.get("hopBlackouts", [])]
            if run.get("phases") and "kernelBoot" in run["phases"]:
                run["phases"]["kernelBoot"] += args.shift
            shifted.append(run)
        flagged, text = compare(args.handover, base, summary_with(template, cell, shifted, work / f"{trial}-shifted"), args.threshold)
        counts["shifted"] += flagged
        examples.setdefault("shifted", text)
        counts["shifted_old_rule"] += statistics.median(r["blackout"] for r in shifted) > (1 + args.threshold) * statistics.median(r["blackout"] for r in a)
    blackouts = [r["blackout"] for r in pool]
    report = {"ignore_contention": args.ignore_contention, "source": "recorded real repeats" + (f", new side shifted by +{args.shift} s" if args.shift else ""),
              "folders": args.folders, "accelerator": accelerators.pop(), "cell": f"{cell['scenario']}: {' -> '.join(cell['chain'])}",
              "pool": len(pool), "pool_disturbed": disturbed, "pool_median_s": statistics.median(blackouts),
              "pool_cv": statistics.stdev(blackouts) / statistics.mean(blackouts), "draw": args.draw, "trials": args.trials,
              "threshold": args.threshold, **counts, "examples": examples}
    print(f"   {report['cell']} under {report['accelerator']}: {len(pool)} real repeats ({disturbed} disturbed{', judged anyway' if args.ignore_contention else ', left out'}), "
          f"median {report['pool_median_s']:.3f} s, CV {report['pool_cv'] * 100:.1f}%; {args.trials} trials of {args.draw} vs {args.draw}")
    print(f"   A/A flagged {counts['aa']}/{args.trials} (old rule: {counts['aa_old_rule']}/{args.trials}); "
          f"+{args.shift:g} s flagged {counts['shifted']}/{args.trials} (old rule: {counts['shifted_old_rule']}/{args.trials})")
    for kind, text in examples.items():
        print(f"   e.g. {kind}: {text}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
