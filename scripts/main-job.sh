#!/usr/bin/env bash
# The main job on its built-in default: memfd-basic across linux-7.2 -> linux-7.3.
# Builds the tool and both kernels on first use (cached afterwards), then runs the pair.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build
exec .build/debug/handover run Scenarios/memfd-basic.yaml --from linux-7.2 --to linux-7.3 "$@"
