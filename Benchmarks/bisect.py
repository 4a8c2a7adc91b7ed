#!/usr/bin/env python3
"""What a bisection step costs: the build of a commit that touches a handful of files in a
kept build folder (as `handover bisect` builds it) against a cold build of the same tree, and
the whole bisection's wall time. Works on the fixture history of the end-to-end tests
(scripts/bisect-fixture.sh, from Debian's linux-source-7.3). Writes
Benchmarks/results/bisect-<time>.json.

Usage: Benchmarks/bisect.py [--handover PATH] [--no-cold] [--no-bisect]
  --no-cold     skip the cold build (about 15-30 minutes on 2 shared cores)
  --no-bisect   skip the whole bisection (memfd-basic, linux-7.3 -> the fixture)

The builds use the same make command line as handover (out of tree, ARCH=x86_64,
CC="ccache gcc"); the cold one has ccache disabled and a new build folder, the incremental
ones move one worktree from commit to commit as handover does.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("HANDOVER_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "handover")
FIXTURE = CACHE / "fixtures" / "bisect-linux-7.3"
# Consecutive commits of the memfd branch (oldest first) that build, and what each touches.
STEPS = ["fixture-memfd-bad~7", "fixture-memfd-bad~6", "fixture-memfd-bad~5", "fixture-memfd-bad~2", "fixture-memfd-bad~1"]


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
        for fragment in ("tiny-guest", "luo"):
            config.write((ROOT / "Images" / "fragments" / f"{fragment}.config").read_text())
    make(src, build, ["olddefconfig"], env, log)


def units(log):
    return sum(1 for line in open(log) if line.startswith("  ") and len(line) > 10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--handover", default=str(ROOT / ".build" / "debug" / "handover"))
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--no-bisect", action="store_true")
    args = parser.parse_args()

    shown = json.loads(sh([args.handover, "image", "show", "linux-7.3", "--json"]).stdout)
    source = shown.get("sourceTree") or sys.exit("linux-7.3 records no source tree")
    sh(["bash", str(ROOT / "scripts" / "bisect-fixture.sh"), source, str(FIXTURE)])
    work = Path(tempfile.mkdtemp(prefix="handover-bisect-bench-"))
    src, build = work / "src", work / "build"
    env = dict(os.environ, KBUILD_BUILD_USER="handover", KBUILD_BUILD_HOST="handover", CCACHE_DIR=str(work / "ccache"))
    figures = {"cores": os.cpu_count(), "jobs": os.cpu_count()}
    try:
        sh(["git", "-C", str(FIXTURE), "worktree", "add", "--detach", "--force", str(src), "fixture-base"])
        build.mkdir()
        log = work / "build.log"
        configure(src, build, env, log)
        if not args.no_cold:
            cold_env = dict(env, CCACHE_DISABLE="1")
            seconds = make(src, build, [f"-j{os.cpu_count()}", "bzImage"], cold_env, log)
            figures["cold"] = {"seconds": round(seconds, 1), "units": units(log)}
            print(f"cold build of fixture-base: {seconds:.0f} s, {units(log)} make steps")
        else:
            make(src, build, [f"-j{os.cpu_count()}", "bzImage"], env, log)
        figures["incremental"] = []
        for step in STEPS:
            sh(["git", "-C", str(src), "checkout", "--quiet", "--force", "--detach", step])
            changed = sh(["git", "-C", str(src), "diff", "--name-only", f"{step}~1", step]).stdout.split()
            step_log = work / f"step-{step}.log"
            seconds = make(src, build, [f"-j{os.cpu_count()}", "bzImage"], env, step_log)
            entry = {"commit": step, "files": changed, "seconds": round(seconds, 1), "units": units(step_log)}
            if "cold" in figures:
                entry["ratio"] = round(seconds / figures["cold"]["seconds"], 4)
            figures["incremental"].append(entry)
            print(f"{step}: {seconds:.1f} s, {entry['units']} make steps, files {', '.join(changed)}"
                  + (f", {100 * entry['ratio']:.1f}% of cold" if "ratio" in entry else ""))
        if not args.no_bisect:
            out = work / "bisect"
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
    finally:
        subprocess.run(["git", "-C", str(FIXTURE), "worktree", "remove", "--force", str(src)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    results = ROOT / "Benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"bisect-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures: {path}")


if __name__ == "__main__":
    main()
