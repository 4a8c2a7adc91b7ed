#!/usr/bin/env python3
"""What a bisection step costs: the build of a commit that touches a handful of files in the
build folder handover keeps for a tree (as `handover bisect` builds it) against a cold build of
the same tree and configuration, and the whole bisection's wall time. Works on the fixture
history of the end-to-end tests (scripts/bisect-fixture.sh, from Debian's linux-source-7.3,
tinyconfig + tiny-guest + luo). Writes Benchmarks/results/bisect-<time>.json.

Usage: Benchmarks/bisect.py [--handover PATH] [--cold] [--no-bisect]
  --cold        also time a cold build (new worktree and build folder, ccache disabled; about
                30-40 minutes on 2 shared cores). Without it the cold figure is the make time
                handover recorded for linux-7.3-luo-v6, the same source and configuration (its
                patch changes one string).
  --no-bisect   skip the whole bisection (memfd-basic, linux-7.3 -> the fixture)

The incremental builds run in handover's own worktree and build folder for the fixture (the
workspace lock is held meanwhile), with handover's make command line (out of tree,
ARCH=x86_64, CC="ccache gcc", its ccache directory): the worktree moves from commit to commit
as a bisection moves it. The bisection's step images are usually in the image cache already,
so its wall time is mostly boots and runs; each step's build record in bisect.json says so.
"""
import argparse, fcntl, hashlib, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("HANDOVER_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "handover")
FIXTURE = CACHE / "fixtures" / "bisect-linux-7.3"
FRAGMENTS = ["tiny-guest", "luo"]
# Consecutive commits of the memfd branch that build, oldest first (each touches one or two files).
STEPS = ["fixture-memfd-bad~7", "fixture-memfd-bad~6", "fixture-memfd-bad~5", "fixture-memfd-bad~2", "fixture-memfd-bad~1"]


def workspace():
    """handover's workspace for the fixture: BisectWorkspace.slug, computed the same way."""
    lines = [str(FIXTURE), "tinyconfig"]
    for name in FRAGMENTS:
        path = ROOT / "Images" / "fragments" / f"{name}.config"
        lines.append(f"{path.name}:{hashlib.sha256(path.read_bytes()).hexdigest()}")
    return CACHE / "bisect" / hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def make(src, build, targets, env, log):
    started = time.monotonic()
    with open(log, "a") as out:
        subprocess.run(["make", "-C", str(src), f"O={build}", "ARCH=x86_64", "CC=ccache gcc"] + targets,
                       check=True, stdout=out, stderr=subprocess.STDOUT, env=env)
    return time.monotonic() - started


def configure(src, build, env, log):
    make(src, build, ["tinyconfig"], env, log)
    with open(build / ".config", "a") as config:
        for fragment in FRAGMENTS:
            config.write((ROOT / "Images" / "fragments" / f"{fragment}.config").read_text())
    make(src, build, ["olddefconfig"], env, log)


def units(log):
    return sum(1 for line in open(log) if line.startswith("  ") and len(line) > 10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--handover", default=str(ROOT / ".build" / "debug" / "handover"))
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--no-bisect", action="store_true")
    args = parser.parse_args()

    shown = json.loads(sh([args.handover, "image", "show", "linux-7.3", "--json"]).stdout)
    source = shown.get("sourceTree") or sys.exit("linux-7.3 records no source tree")
    sh(["bash", str(ROOT / "scripts" / "bisect-fixture.sh"), source, str(FIXTURE)])
    figures = {"cores": os.cpu_count(), "jobs": os.cpu_count(), "loadBefore": os.getloadavg()[0]}
    env = dict(os.environ, KBUILD_BUILD_USER="handover", KBUILD_BUILD_HOST="handover", CCACHE_DIR=str(CACHE / "ccache"))

    if args.cold:
        work = Path(tempfile.mkdtemp(prefix="handover-bisect-cold-"))
        try:
            src, build, log = work / "src", work / "build", work / "build.log"
            sh(["git", "-C", str(FIXTURE), "worktree", "add", "--detach", "--force", str(src), "fixture-base"])
            build.mkdir()
            configure(src, build, env, log)
            seconds = make(src, build, [f"-j{os.cpu_count()}", "bzImage"], dict(env, CCACHE_DISABLE="1"), log)
            figures["cold"] = {"seconds": round(seconds, 1), "units": units(log), "how": "measured"}
        finally:
            subprocess.run(["git", "-C", str(FIXTURE), "worktree", "remove", "--force", str(work / "src")], capture_output=True)
            shutil.rmtree(work, ignore_errors=True)
    else:
        recorded = json.loads(sh([args.handover, "image", "show", "linux-7.3-luo-v6", "--json"]).stdout)
        figures["cold"] = {"seconds": round(recorded["makeSeconds"], 1), "units": recorded.get("compiledUnits"),
                           "how": "recorded by handover for linux-7.3-luo-v6 (same source and configuration)"}
    cold = figures["cold"]["seconds"]
    print(f"cold build: {cold:.0f} s, {figures['cold']['units']} make steps ({figures['cold']['how']})")

    root = workspace()
    src, build = root / "src", root / "build"
    if not (build / "vmlinux").exists():
        sys.exit(f"{build} holds no finished build: run a bisection of the fixture first (the end-to-end tests do)")
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        work = Path(tempfile.mkdtemp(prefix="handover-bisect-bench-"))
        sh(["git", "-C", str(src), "checkout", "--quiet", "--force", "--detach", "fixture-base"])
        make(src, build, [f"-j{os.cpu_count()}", "bzImage"], env, work / "settle.log")
        figures["incremental"] = []
        for step in STEPS:
            sh(["git", "-C", str(src), "checkout", "--quiet", "--force", "--detach", step])
            changed = sh(["git", "-C", str(src), "diff", "--name-only", f"{step}~1", step]).stdout.split()
            step_log = work / f"step-{len(figures['incremental'])}.log"
            seconds = make(src, build, [f"-j{os.cpu_count()}", "bzImage"], env, step_log)
            entry = {"commit": step, "files": changed, "seconds": round(seconds, 1), "units": units(step_log),
                     "ratio": round(seconds / cold, 4)}
            figures["incremental"].append(entry)
            print(f"{step}: {seconds:.1f} s, {entry['units']} make steps, {100 * entry['ratio']:.1f}% of cold; changed {', '.join(changed)}")
        shutil.rmtree(work, ignore_errors=True)
    ratios = sorted(e["ratio"] for e in figures["incremental"])
    figures["medianRatio"] = ratios[len(ratios) // 2]
    print(f"median incremental step: {100 * figures['medianRatio']:.1f}% of the cold build")

    if not args.no_bisect:
        out = Path(tempfile.mkdtemp(prefix="handover-bisect-run-"))
        started = time.monotonic()
        subprocess.run([args.handover, "bisect", "memfd-basic", "--tree", str(FIXTURE), "--good", "fixture-base",
                        "--bad", "fixture-memfd-bad", "--from", "linux-7.3", "--accel", "tcg", "--out", str(out)],
                       check=False, capture_output=True, text=True)
        wall = time.monotonic() - started
        record = json.loads((out / "bisect.json").read_text())
        figures["bisection"] = {
            "wallSeconds": round(wall, 1), "status": record["status"],
            "steps": [{"commit": s["candidate"]["hash"][:12], "verdict": s["verdict"], "seconds": round(s["seconds"], 1),
                       "build": s.get("build")} for s in record["steps"]],
        }
        print(f"whole bisection: {wall:.0f} s, {len(record['steps'])} steps, {record['status']}")
        shutil.rmtree(out, ignore_errors=True)
    results = ROOT / "Benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"bisect-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures: {path}")


if __name__ == "__main__":
    main()
