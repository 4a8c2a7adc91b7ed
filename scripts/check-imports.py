#!/usr/bin/env python3
"""Every `import` of a package target in Sources/ names a target the importing target depends
on (directly or through its dependencies), as Package.swift declares them. SwiftPM builds an
undeclared import whenever the imported module happens to be built first, so the mistake
only shows on another machine or build order; this check makes it fail every time.

Usage: scripts/check-imports.py   (exit 1 listing every undeclared import)
"""
import json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    package = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, check=True,
                                        capture_output=True, text=True).stdout)
    targets = {t["name"]: t for t in package["targets"]}
    direct = {}
    for name, target in targets.items():
        names = set()
        for dependency in target.get("dependencies", []):
            for kind in ("byName", "target"):
                if kind in dependency:
                    names.add(dependency[kind][0])
        direct[name] = names & set(targets)

    def closure(name, seen=None):
        seen = set() if seen is None else seen
        for dependency in direct.get(name, ()):
            if dependency not in seen:
                seen.add(dependency)
                closure(dependency, seen)
        return seen

    problems = []
    for name, target in targets.items():
        if target.get("type") not in ("regular", "executable", "test"):
            continue
        folder = ROOT / (target.get("path") or ("Tests" if target["type"] == "test" else "Sources") + "/" + name)
        allowed = closure(name) | {name}
        for source in sorted(folder.rglob("*.swift")):
            for line_number, line in enumerate(source.read_text().splitlines(), 1):
                match = re.match(r"\s*(?:@testable\s+|@_spi\(\w+\)\s+)?import\s+(?:struct\s+|enum\s+|class\s+)?(\w+)", line)
                if match and match.group(1) in targets and match.group(1) not in allowed:
                    problems.append(f"{source.relative_to(ROOT)}:{line_number}: imports {match.group(1)}, "
                                    f"which target {name} does not depend on in Package.swift")
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main()
