#!/usr/bin/env python3
"""handover's benchmark suite: the harness's own cost, blackout precision, guest hashing
throughput, matrix scaling, memory, the image cache and the libvirt backend against QEMU.
Prints medians (and ratios measured in the same run) and writes everything to
Benchmarks/results/<time>.json.

Usage: Benchmarks/bench.py [--quick] [--handover PATH] [--libvirt-only] [--libvirt-tcp URI] [--blackout]
  --quick          fewer repeats (5 instead of 20 for precision, 3 instead of 5 elsewhere)
  --libvirt-only   only section 8: the same pair on QEMU, libvirt (qemu:///system) and libvirt
                   over loopback TCP (scripts/libvirt-daemons.sh start)
  --libvirt-pair FROM TO   the pair of section 8 (default linux-7.2 linux-7.3)
  --blackout       also: the minimal-init baseline with payload bytes per stage, the blackout's
                   spread with --jobs 1 and 2, and the judgement's A/A false alarms and detection rate
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay import replay  # noqa: E402
import minimal_init  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def sh(cmd, **kw):
    return subprocess.run(cmd, check=False, text=True, capture_output=True, **kw)


def median(values):
    return statistics.median(values) if values else None


def cv(values):
    if len(values) < 2:
        return 0.0
    mean = statistics.mean(values)
    return statistics.stdev(values) / mean if mean else 0.0


def run_tracked(cmd):
    """Runs cmd, sampling the peak RSS (VmHWM) of that process alone, not of its children."""
    started = time.monotonic()
    # Output goes to files: a pipe nobody reads while we poll would fill and block the tool.
    out_file, err_file = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    process = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, text=True)
    peak = 0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.05)
    process.wait()
    wall = time.monotonic() - started
    out_file.seek(0)
    err_file.seek(0)
    return process.returncode, out_file.read(), err_file.read(), wall, peak


def handover_run(h, scenario, frm, to, out, repeat=1, extra=()):
    cmd = [h, "run", scenario, "--from", frm, "--to", to, "--accel", args.accel, "--out", out, "--json", "-q",
           "--repeat", str(repeat), *extra]
    code, stdout, stderr, wall, peak = run_tracked(cmd)
    if code not in (0, 1):
        sys.exit(f"bench: {' '.join(cmd)} failed ({code}): {stderr[-2000:]}")
    data = json.loads(stdout)
    runs = data["runs"] if "runs" in data else [data]
    return runs, wall, peak


parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--handover", default=str(ROOT / ".build/debug/handover"))
parser.add_argument("--accel", default="auto")
parser.add_argument("--libvirt-only", action="store_true")
parser.add_argument("--libvirt-tcp", default="qemu+tcp://127.0.0.1:16519/system")
parser.add_argument("--libvirt-pair", nargs=2, default=["linux-7.2", "linux-7.3"], metavar=("FROM", "TO"))
parser.add_argument("--blackout", action="store_true")
args = parser.parse_args()
h = args.handover
small = 3 if args.quick else 5
precision_repeats = 5 if args.quick else 20
os.chdir(ROOT)
work = Path(tempfile.mkdtemp(prefix="handover-bench-"))
report = {"quick": args.quick, "host": os.uname().nodename, "cores": os.cpu_count()}


def first_times(out):
    """Host seconds (VM clock) of the first console line and of the agent's first hello."""
    console, hello = None, None
    try:
        for line in (Path(out) / "console.log").read_text(errors="replace").splitlines():
            if line.startswith("["):
                console = float(line[1:line.index("]")])
                break
        for line in (Path(out) / "transcript.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if entry.get("from") == "agent" and '"hello"' in entry.get("line", ""):
                hello = entry["t"]
                break
    except (OSError, ValueError):
        pass
    return console, hello


def write_report():
    results = ROOT / "Benchmarks/results"
    results.mkdir(exist_ok=True)
    name = results / time.strftime("%Y%m%d-%H%M%S.json")
    name.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {name}")


def bench_libvirt():
    """The same run on QEMU directly, through libvirt on this machine and through libvirt over
    loopback TCP, interleaved round by round: whole run (the command's wall time), the VM's
    own time, the set-up before it (uploads, the domain's start), and when the first console
    line and the agent's hello came, on the VM's clock and counted from the end of the set-up."""
    backends = [("qemu", [])]
    for uri in ("qemu:///system", args.libvirt_tcp):
        if sh(["virsh", "-c", uri, "version"]).returncode == 0:
            backends.append((f"libvirt {uri}", ["--backend", "libvirt", "--connect", uri]))
        else:
            print(f"   skipped libvirt {uri}: libvirtd does not answer (scripts/libvirt-daemons.sh start)")
    rows = {label: {"wall": [], "vm": [], "setup": [], "console": [], "hello": []} for label, _ in backends}
    accelerators = set()
    for round_index in range(small):
        for label, extra in backends:
            out = work / f"libvirt-{round_index}-{label.replace('/', '_').replace(':', '_').replace(' ', '_')}"
            runs, wall, _ = handover_run(h, "memfd-basic", *args.libvirt_pair, str(out), extra=extra)
            run = runs[0]
            if run["verdict"] != "pass":
                sys.exit(f"bench: {label}: {run['verdict']}: {run['reason']}")
            setup = (run.get("setup") or {}).get("seconds", 0.0)
            console, hello = first_times(out)
            accelerators.add(run["accelerator"])
            row = rows[label]
            row["wall"].append(wall)
            row["vm"].append(run.get("vmSeconds") or 0)
            row["setup"].append(setup)
            if console is not None:
                row["console"].append(setup + console)
            if hello is not None:
                row["hello"].append(setup + hello)
    base = median(rows["qemu"]["wall"])
    base_hello = median(rows["qemu"]["hello"])
    result = {}
    for label, row in rows.items():
        entry = {key + "_median_s": median(values) for key, values in row.items()}
        entry["runs"] = len(row["wall"])
        entry["wall_ratio_to_qemu"] = median(row["wall"]) / base if base else None
        entry["hello_minus_qemu_s"] = (median(row["hello"]) - base_hello) if row["hello"] and base_hello is not None else None
        result[label] = entry
        print(f"   {label:45s} run {entry['wall_median_s']:6.2f} s ({entry['wall_ratio_to_qemu']:.2f}x QEMU; target <= 1.10), "
              f"set-up {entry['setup_median_s']:.2f} s, VM {entry['vm_median_s']:.2f} s, first console line "
              f"{entry['console_median_s'] or 0:.2f} s, hello {entry['hello_median_s'] or 0:.2f} s "
              f"({entry['hello_minus_qemu_s'] or 0:+.2f} s against QEMU; target within 1 s)")
    result["accelerator"] = "+".join(sorted(accelerators))
    result["pair"] = " -> ".join(args.libvirt_pair)
    report["libvirt_vs_qemu"] = result


if args.libvirt_only:
    print(f"== 8. libvirt against QEMU: memfd-basic {' -> '.join(args.libvirt_pair)}, median of {small}")
    bench_libvirt()
    write_report()
    sys.exit(0)

print("== 1. harness overhead: handover run against the same VM started by hand")
# Interleaved: a handover run (kept run directory), then its exact QEMU command line with a
# replay of the runner's lines (Benchmarks/replay.py), so both see the same machine state.
ratios, walls, vms, alone = [], [], [], []
for i in range(small):
    out = work / f"overhead-{i}"
    runs, wall, _ = handover_run(h, "memfd-basic", "linux-7.2", "linux-7.3", str(out), extra=["--keep"])
    run_dir = runs[0]["runDirectory"]
    by_hand = replay(out, run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    walls.append(wall)
    vms.append(runs[0]["vmSeconds"])
    alone.append(by_hand)
    ratios.append(wall / by_hand)
report["overhead"] = {"wall_median_s": median(walls), "vm_in_run_median_s": median(vms), "vm_by_hand_median_s": median(alone),
                      "ratio_median": median(ratios)}
print(f"   handover run {median(walls):.2f} s, the same VM by hand {median(alone):.2f} s (inside the run {median(vms):.2f} s): "
      f"ratio {median(ratios):.3f} (target <= 1.10)")

print("== 2/3. blackout: the agent's share, precision and spread")
for scenario in ["memfd-basic", "memfd-many"]:
    count = precision_repeats if scenario == "memfd-basic" else small
    runs, _, _ = handover_run(h, scenario, "linux-7.2", "linux-7.3", str(work / f"blackout-{scenario}"), repeat=count)
    blackouts = [r["blackout"]["total"] for r in runs if r.get("blackout")]
    shares = [((r["blackout"].get("agentStart") or 0) + (r["blackout"].get("restore") or 0)) / r["blackout"]["total"]
              for r in runs if r.get("blackout")]
    restore = [r["blackout"]["restore"] for r in runs if r.get("blackout")]
    accel = runs[0]["accelerator"]
    report[f"blackout_{scenario}"] = {"runs": len(blackouts), "median_s": median(blackouts), "cv": cv(blackouts),
                                      "agent_share_median": median(shares), "restore_median_s": median(restore), "accelerator": accel}
    print(f"   {scenario}: {len(blackouts)} runs under {accel}, median {median(blackouts)*1000:.1f} ms, CV {cv(blackouts)*100:.1f}%, "
          f"agent share (exec to resumed) {median(shares)*100:.1f}% (restore alone {median(restore)*1000:.1f} ms)")
report["blackout_resolution"] = "host CLOCK_MONOTONIC in ns, reported as seconds with 1 us or better"
print("   resolution: host CLOCK_MONOTONIC (ns); results carry seconds as doubles, i.e. 1 us or better")

print("== 4. guest hashing throughput for a 1 GiB memfd")
runs, _, _ = handover_run(h, "Benchmarks/memfd-1g.yaml", "linux-7.3", "linux-7.3", str(work / "1g"), extra=["--memory", "3072"])
steps = {s["step"] + str(s["stage"]): s for s in runs[0]["steps"]}
mib = 1024.0
def rate(step):
    s = steps.get(step)
    return mib / (s["microseconds"] / 1e6) if s and s.get("microseconds") else None
throughput = {"create_MiBps": rate("create1"), "fingerprint_MiBps": rate("fingerprint1"), "verify_MiBps": rate("verify2"),
              "preserve_s": (steps.get("preserve1") or {}).get("microseconds", 0) / 1e6, "verdict": runs[0]["verdict"],
              "agent_peak_rss": (steps.get("verify2") or {}).get("detail")}
report["guest_throughput"] = throughput
print(f"   create (fill) {throughput['create_MiBps'] or 0:.0f} MiB/s, fingerprint {throughput['fingerprint_MiBps'] or 0:.0f} MiB/s, "
      f"verify {throughput['verify_MiBps'] or 0:.0f} MiB/s, verdict {throughput['verdict']}; {throughput['agent_peak_rss']}")

print("== 5. matrix scaling: the same 8-run matrix with --jobs 1 and --jobs 2")
matrix = work / "scaling.yaml"
matrix.write_text(f"""name: scaling
images: [linux-7.2, linux-7.3]
scenarios: [memfd-basic]
pairs: all
repeats: 2
accel: {args.accel}
cpus: 1
""")
times, peaks = {}, {}
for jobs in (1, 2):
    code, out, err, wall, peak = run_tracked([h, "matrix", str(matrix), "--jobs", str(jobs), "--out", str(work / f"matrix-{jobs}"), "--no-history", "-q"])
    times[jobs], peaks[jobs] = wall, peak
report["matrix_scaling"] = {"jobs1_s": times[1], "jobs2_s": times[2], "speedup": times[1] / times[2],
                            "runner_peak_rss_kib": max(peaks.values())}
print(f"   --jobs 1 {times[1]:.1f} s, --jobs 2 {times[2]:.1f} s: speed-up {times[1]/times[2]:.2f} (target >= 1.7)")

print("== 6. memory: the runner's own peak RSS during a 20-run matrix")
matrix20 = work / "memory.yaml"
matrix20.write_text(f"""name: memory
images: [linux-7.2, linux-7.3]
scenarios: [memfd-basic]
pairs: all
repeats: {5 if not args.quick else 2}
accel: {args.accel}
cpus: 1
""")
code, out, err, wall, peak = run_tracked([h, "matrix", str(matrix20), "--out", str(work / "matrix-20"), "--no-history", "-q"])
report["memory"] = {"runs": 20 if not args.quick else 8, "runner_peak_rss_kib": peak}
print(f"   runner peak RSS {peak/1024:.1f} MiB over {report['memory']['runs']} runs (target <= 64 MiB; QEMU's memory is not counted)")

print("== 7. image cache")
hits = []
for _ in range(small):
    started = time.monotonic()
    sh([h, "image", "build", "linux-7.3", "-q"])
    hits.append(time.monotonic() - started)
info = json.loads(sh([h, "image", "show", "linux-7.3", "--json"]).stdout)
report["image_cache"] = {"hit_median_s": median(hits), "cold_build_s": info.get("buildSeconds"), "cold_make_s": info.get("makeSeconds")}
outside = (info.get("buildSeconds") or 0) - (info.get("makeSeconds") or 0)
print(f"   cache hit {median(hits):.2f} s (target < 2 s); the cold build took {info.get('buildSeconds') or 0:.0f} s, "
      f"{outside:.0f} s of it outside make bzImage")

print(f"== 8. libvirt against QEMU: memfd-basic {' -> '.join(args.libvirt_pair)}, median of {small}")
bench_libvirt()

if args.blackout:
    print("== 9. the blackout against a minimal init: upstream luo_kexec_simple as the whole payload, same VM shape")
    baseline = minimal_init.measure(h, "linux-7.3", "linux-7.3", args.accel, small, work / "minimal")
    minimal_init.show(baseline)
    report["minimal_init"] = baseline

    print("== 10. the blackout's spread with --jobs 1 and --jobs 2 (contended and isolated), 8 repeats of linux-7.3 -> linux-7.3")
    spread_dir = work / "spread"
    subprocess.run([sys.executable, str(ROOT / "Benchmarks/spread.py"), "--handover", h, "--accel", args.accel, "--out", str(spread_dir)], check=True)
    report["spread"] = json.loads((spread_dir / "spread.json").read_text())

    print("== 11. the judgement on real repeats: A/A false alarms and +1 s detection, 20 trials of 8 vs 8")
    for key, extra in (("false_alarms", []), ("false_alarms_contention_ignored", ["--ignore-contention"])):
        judged = work / f"{key}.json"
        subprocess.run([sys.executable, str(ROOT / "Benchmarks/false_alarms.py"), "--handover", h, "--out", str(judged), *extra,
                        str(spread_dir / "jobs1"), str(spread_dir / "jobs2-isolated")], check=True)
        report[key] = json.loads(judged.read_text())


write_report()
