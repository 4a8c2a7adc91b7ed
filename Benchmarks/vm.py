#!/usr/bin/env python3
"""The running VM's blackout: vm-basic across one pair, repeated. Reports, as medians over the
repeats, the VM's own blackout (its last exit before the pause to its first exit after the
resume) against the agent's blackout of the same runs, the part the VMM adds on either side
(pause to quiesce; resumed to the first exit), and the guest's progress rate before and after
the handover. Writes Benchmarks/results/vm-<time>.json.

Usage: Benchmarks/vm.py [--repeat N] [--from IMAGE] [--to IMAGE] [--accel tcg|kvm|auto] [--handover PATH]
"""
import argparse, json, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser()
parser.add_argument("--repeat", type=int, default=8)
parser.add_argument("--from", dest="frm", default="linux-7.2")
parser.add_argument("--to", default="linux-7.3")
parser.add_argument("--accel", default="auto")
parser.add_argument("--handover", default=str(ROOT / ".build/debug/handover"))
args = parser.parse_args()

out = tempfile.mkdtemp(prefix="handover-vm-bench-")
cmd = [args.handover, "run", "Scenarios/vm-basic.yaml", "--from", args.frm, "--to", args.to, "--accel", args.accel,
       "--repeat", str(args.repeat), "--out", out, "--json", "-q"]
done = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True)
if done.returncode not in (0, 1):
    sys.exit(f"vm bench: {' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}")
data = json.loads(done.stdout)
runs = data["runs"] if "runs" in data else [data]
passed = [r for r in runs if r["verdict"] == "pass" and r.get("vm")]
if not passed:
    sys.exit(f"vm bench: no run passed: {[r['reason'] for r in runs]}")


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    values = [v for v in values if v is not None]
    return statistics.stdev(values) / statistics.mean(values) if len(values) > 1 else 0.0


hop = lambda r: r["vm"]["hops"][0]
stage = lambda r, n: next((s for s in r["vm"]["stages"] if s["stage"] == n), None)


def rate(s):
    return (s["counterEnd"] - s["counterStart"]) / (s["runMicros"] / 1e6) if s and s["runMicros"] else None


vm_blackouts = [hop(r)["blackout"] for r in passed]
agent_blackouts = [r["blackout"]["total"] for r in passed]
figures = {
    "pair": f"{args.frm} -> {args.to}",
    "accelerator": passed[0]["accelerator"],
    "runs": len(runs), "passed": len(passed),
    "vm_blackout_median_s": med(vm_blackouts), "vm_blackout_cv": spread(vm_blackouts),
    "agent_blackout_median_s": med(agent_blackouts), "agent_blackout_cv": spread(agent_blackouts),
    "vmm_before_quiesce_median_s": med(hop(r)["beforeQuiesce"] for r in passed),
    "vmm_after_resumed_median_s": med(hop(r)["afterResumed"] for r in passed),
    "vm_rebuild_agent_clock_median_s": med((stage(r, 2) or {}).get("rebuildMicros", 0) / 1e6 for r in passed),
    "guest_rate_before_median": med(rate(stage(r, 1)) for r in passed),
    "guest_rate_after_median": med(rate(stage(r, 2)) for r in passed),
    "vm_blackouts_s": vm_blackouts, "agent_blackouts_s": agent_blackouts,
}
figures["vm_over_agent_ratio"] = figures["vm_blackout_median_s"] / figures["agent_blackout_median_s"]
figures["vmm_adds_median_s"] = med(v - a for v, a in zip(vm_blackouts, agent_blackouts))
if figures["guest_rate_before_median"]:
    figures["guest_rate_after_over_before"] = figures["guest_rate_after_median"] / figures["guest_rate_before_median"]

print(f"vm-basic {figures['pair']} under {figures['accelerator']}, {len(passed)}/{len(runs)} runs passed")
print(f"  VM blackout     median {figures['vm_blackout_median_s']:.3f} s (CV {figures['vm_blackout_cv']:.1%})")
print(f"  agent blackout  median {figures['agent_blackout_median_s']:.3f} s (CV {figures['agent_blackout_cv']:.1%}); VM/agent {figures['vm_over_agent_ratio']:.3f}")
print(f"  the VMM adds    median {figures['vmm_adds_median_s']:.3f} s = pause to quiesce {figures['vmm_before_quiesce_median_s']:.3f} s"
      f" + resumed to first exit {figures['vmm_after_resumed_median_s']:.3f} s (rebuild on the agent's clock {figures['vm_rebuild_agent_clock_median_s']:.4f} s)")
if figures.get("guest_rate_after_over_before"):
    print(f"  guest progress  {figures['guest_rate_before_median']:.0f} iterations/s before, {figures['guest_rate_after_median']:.0f} after"
          f" (ratio {figures['guest_rate_after_over_before']:.3f})")
results = ROOT / "Benchmarks" / "results"
results.mkdir(exist_ok=True)
target = results / time.strftime("vm-%Y%m%d-%H%M%S.json")
target.write_text(json.dumps(figures, indent=2) + "\n")
print(f"written: {target}")
