#!/usr/bin/env bash
# The main job on its built-in default, across linux-7.2 -> linux-7.3: memfd-basic (memfds the
# agent fills) and vm-basic (a KVM guest running inside the test VM, paused before the kexec
# and resumed after it, with the VM's own blackout). Builds the tool and both kernels on first
# use (cached afterwards). Extra arguments go to both runs; the exit status is the worse one
# (0 pass, 1 fail, 2 error, 3 unsupported; see README).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build
status=0
for scenario in memfd-basic vm-basic; do
  code=0
  .build/debug/handover run "Scenarios/$scenario.yaml" --from linux-7.2 --to linux-7.3 "$@" || code=$?
  # Rank the verdicts as the tool does: pass < unsupported < fail < error.
  rank() { case $1 in 0) echo 0 ;; 3) echo 1 ;; 1) echo 2 ;; *) echo 3 ;; esac; }
  if (( $(rank "$code") > $(rank "$status") )); then status=$code; fi
done
exit "$status"
