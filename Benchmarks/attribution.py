#!/usr/bin/env python3
"""Where the blackout goes, and what measuring it costs: the same pair run alternately with
the plain console (the default), with initcall attribution (--initcalls: initcall_debug, read
from /dev/kmsg in the guest) and with a quiet console (--quiet-console: loglevel 4), median of
repeats per arm. Prints per arm the blackout, its phases and the share attributed to named
phases, then

  console cost      plain - quiet: what the full serial console adds to the blackout
  initcall cost     initcalls - plain: what initcall_debug adds (its KERN_DEBUG records do not
                    reach the console, but PCI fixups print their timings at KERN_INFO)

and the initcalls that took longest (median over the initcall runs).

Usage: Benchmarks/attribution.py [--scenario memfd-basic] [--from linux-7.2] [--to linux-7.3]
                                 [--repeats 3] [--accel auto] [--arms plain,initcalls,quiet] [--out FILE]
"""
import argparse, json, statistics, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARMS = {"plain": [], "initcalls": ["--initcalls"], "quiet": ["--quiet-console"]}
PHASES = ["oldKernel", "jump", "shutdown", "kernelBoot", "printkClockLag", "initramfsUnpack", "agentStart", "restore", "unaccounted"]


def run_once(h, scenario, frm, to, accel, arm, out):
    done = subprocess.run([h, "run", scenario, "--from", frm, "--to", to, "--accel", accel, "--out", str(out), "-q", *ARMS[arm]],
                          text=True, capture_output=True)
    path = out / "result.json"
    if not path.exists():
        sys.exit(f"attribution: `handover run` wrote no result in {out}: {done.stderr[-2000:]}")
    result = json.loads(path.read_text())
    if result["verdict"] != "pass" or not result.get("blackout"):
        print(f"   ({arm}: {result['verdict']}: {result['reason']}; left out)", file=sys.stderr)
        return None
    return result


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def measure(h, scenario, frm, to, accel, repeats, arms, work):
    runs = {arm: [] for arm in arms}
    accelerator = None
    for index in range(repeats):
        for arm in arms:
            result = run_once(h, scenario, frm, to, accel, arm, work / f"{arm}-{index}")
            if result:
                accelerator = result["accelerator"]
                runs[arm].append(result)
    report = {"scenario": scenario, "from": frm, "to": to, "accelerator": accelerator, "repeats": repeats, "arms": {}}
    for arm, results in runs.items():
        blackouts = [r["blackout"] for r in results]
        report["arms"][arm] = {
            "runs": len(results),
            "blackout_s": median([b["total"] for b in blackouts]),
            "blackouts_s": [b["total"] for b in blackouts],
            "attributed_share": median([b.get("attributedShare") for b in blackouts]),
            "attributed_min": min([b["attributedShare"] for b in blackouts if b.get("attributedShare") is not None], default=None),
            "phases_s": {p: median([b.get(p) for b in blackouts]) for p in PHASES},
            "disturbed": sum(1 for r in results if (r.get("contention") or {}).get("disturbed")),
            "payload": results[0].get("payload") if results else None,
        }
    arm = report["arms"]
    if "plain" in arm and "quiet" in arm and arm["plain"]["blackout_s"] and arm["quiet"]["blackout_s"]:
        report["console_cost_s"] = arm["plain"]["blackout_s"] - arm["quiet"]["blackout_s"]
    if "plain" in arm and "initcalls" in arm and arm["plain"]["blackout_s"] and arm["initcalls"]["blackout_s"]:
        report["initcall_cost_s"] = arm["initcalls"]["blackout_s"] - arm["plain"]["blackout_s"]
    steps = {}
    for result in runs.get("initcalls", []):
        for step in result["blackout"].get("kernelBootSteps") or []:
            key = "other initcalls" if step["kind"] == "otherInitcalls" else step["name"]
            steps.setdefault(key, []).append(step["seconds"])
    report["boot_steps_s"] = sorted(((k, statistics.median(v), len(v)) for k, v in steps.items()), key=lambda s: -s[1])
    return report


def show(report):
    def s(v):
        return f"{v:.3f} s" if v is not None else "-"
    print(f"   {report['scenario']} {report['from']} -> {report['to']} under {report['accelerator']}, {report['repeats']} alternating rounds, medians:")
    arms = report["arms"]
    print("   " + f"{'':22}" + "".join(f"{a:>14}" for a in arms))
    print("   " + f"{'blackout':22}" + "".join(f"{s(arms[a]['blackout_s']):>14}" for a in arms))
    for p in PHASES:
        print("   " + f"{p:22}" + "".join(f"{s(arms[a]['phases_s'][p]):>14}" for a in arms))
    def pct(v):
        return f"{v * 100:.1f}%" if v is not None else "- (quiet)"
    print("   " + f"{'attributed (median)':22}" + "".join(f"{pct(arms[a]['attributed_share']):>14}" for a in arms))
    print("   " + f"{'attributed (lowest)':22}" + "".join(f"{pct(arms[a]['attributed_min']):>14}" for a in arms))
    print("   " + f"{'disturbed runs':22}" + "".join(f"{arms[a]['disturbed']:>11}/{arms[a]['runs']:<2}" for a in arms))
    if "console_cost_s" in report:
        print(f"   console cost (plain - quiet): {report['console_cost_s'] * 1000:+.0f} ms")
    if "initcall_cost_s" in report:
        print(f"   initcall_debug cost (initcalls - plain): {report['initcall_cost_s'] * 1000:+.0f} ms")
    for name, seconds, count in report["boot_steps_s"][:12]:
        print(f"     {seconds * 1000:9.1f} ms  {name}" + (f"  (in {count} runs)" if count != arms['initcalls']['runs'] else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--handover", default=str(ROOT / ".build/debug/handover"))
    parser.add_argument("--scenario", default="memfd-basic")
    parser.add_argument("--from", dest="frm", default="linux-7.2")
    parser.add_argument("--to", default="linux-7.3")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--accel", default="auto")
    parser.add_argument("--arms", default="plain,initcalls,quiet")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    arms = args.arms.split(",")
    if not arms or any(a not in ARMS for a in arms):
        sys.exit(f"attribution: --arms takes a comma-separated list of {', '.join(ARMS)}, not {args.arms!r}")
    report = measure(args.handover, args.scenario, args.frm, args.to, args.accel, args.repeats, arms,
                     Path(tempfile.mkdtemp(prefix="handover-attribution-")))
    show(report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
