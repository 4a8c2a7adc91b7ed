#!/usr/bin/env python3
"""Validates KCIDB report files with KernelCI's own schema package, kcidb-io.

Usage: .venv/bin/python scripts/kcidb-validate.py FILE...

Each file must be valid against exactly the schema version it declares (kcidb-io's
Version.validate_exactly, with format checking, as KCIDB's submission does), and that version
must be the latest kcidb-io knows. Then, as a handover check beyond the schema, every build
must name a checkout and every test a build present in the same file (KCIDB accepts dangling
references, but shows such objects only once their parents arrive).

Exit status: 0 every file is valid, 1 one is not, 2 bad usage or kcidb-io is missing.
"""
import json
import sys

try:
    import jsonschema
    import kcidb_io
    from importlib.metadata import version as package_version
except ImportError as error:  # pragma: no cover
    print(f"kcidb-validate: {error}; run scripts/setup.sh to create .venv", file=sys.stderr)
    sys.exit(2)


def check(path):
    """Returns a list of problems with one file (empty when it is valid)."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError) as error:
        return [f"cannot read JSON: {error}"]
    latest = kcidb_io.schema.LATEST
    declared = kcidb_io.schema.LATEST.get_exactly_compatible(data) if isinstance(data, dict) else None
    if declared is None:
        return [f"declares no schema version kcidb-io knows (latest is {latest.major}.{latest.minor}): "
                f"{data.get('version') if isinstance(data, dict) else data!r}"]
    validator = jsonschema.Draft7Validator(declared.json, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(top)"
        problems.append(f"{where}: {error.message}")
    if problems:
        return problems
    # The same call KCIDB's own tools make; must agree with the listing above.
    declared.validate_exactly(data)
    if declared is not latest:
        problems.append(f"declares schema {declared.major}.{declared.minor}, not the latest {latest.major}.{latest.minor}")
    checkouts = {checkout["id"] for checkout in data.get("checkouts", [])}
    builds = {build["id"] for build in data.get("builds", [])}
    for index, build in enumerate(data.get("builds", [])):
        if build["checkout_id"] not in checkouts:
            problems.append(f"builds/{index}: checkout {build['checkout_id']} is not in the file")
    for index, test in enumerate(data.get("tests", [])):
        if test["build_id"] not in builds:
            problems.append(f"tests/{index}: build {test['build_id']} is not in the file")
    for kind in ("checkouts", "builds", "tests"):
        ids = [item["id"] for item in data.get(kind, [])]
        for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"{kind}: id {duplicate} appears more than once")
    return problems


def main(arguments):
    if not arguments or arguments[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 2 if not arguments else 0
    latest = kcidb_io.schema.LATEST
    label = f"kcidb-io {package_version('kcidb-io')}, schema {latest.major}.{latest.minor}"
    failed = False
    for path in arguments:
        problems = check(path)
        if problems:
            failed = True
            print(f"{path}: INVALID ({label})")
            for problem in problems[:50]:
                print(f"  {problem}")
            if len(problems) > 50:
                print(f"  ... and {len(problems) - 50} more")
        else:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
            counts = ", ".join(f"{len(data.get(k, []))} {k}" for k in ("checkouts", "builds", "tests"))
            print(f"{path}: valid ({label}): {counts}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
