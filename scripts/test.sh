#!/usr/bin/env bash
# The whole test suite: unit tests and end-to-end tests that boot real kernels under QEMU.
# Builds the tool and the kernel images the end-to-end tests use (cached after the first time),
# says first what it will build and about how long that takes here, and at the end how long
# each part took.
set -euo pipefail
cd "$(dirname "$0")/.."

# x86_64 images, then the arm64 pair (Tests/EndToEndTests/Arm64Tests.swift), cross-built from
# the same unpacked sources as linux-7.2 and linux-7.3. Kernels of one source after the first
# are served mostly by the compiler cache.
x86_images=(linux-7.2 linux-7.3 linux-7.3-luo-v6 linux-7.3-gmem linux-7.3-gmem-buggy linux-7.3-vfio linux-7.3-kvm-regs-bug linux-7.3-modules linux-6.12)
arm64_images=(linux-7.2-arm64 linux-7.3-arm64)

parts=()
part() {
  local name=$1 started=$SECONDS status=0
  shift
  "$@" || status=$?
  parts+=("$(printf '%-28s %3dm%02ds' "$name" $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)))")
  return $status
}
summary() {
  local status=${1:-$?}
  echo "test: time per part (exit $status)"
  printf '  %s\n' "${parts[@]}"
  printf '  %-28s %3dm%02ds\n' total $((SECONDS / 60)) $((SECONDS % 60))
  scripts/libvirt-daemons.sh stop >/dev/null 2>&1 || true
}
trap summary EXIT

# The series kernels read the posted series from the mail folders in HANDOVER_MAIL; by default
# the archive copy in a shared/series folder beside the checkout or beside one of its parents
# (the workplace that develops handover keeps it at /work/shared/series, the last place looked
# at). Without it their build stops with an error that says so.
if [ -z "${HANDOVER_MAIL:-}" ]; then
  folder=$PWD
  while [ "$folder" != / ] && [ ! -d "$folder/../shared/series" ]; do folder=$(dirname "$folder"); done
  if [ -d "$folder/../shared/series" ]; then
    HANDOVER_MAIL=$(cd "$folder/../shared/series" && pwd)
  elif [ -d /work/shared/series ]; then
    HANDOVER_MAIL=/work/shared/series
  fi
  [ -n "${HANDOVER_MAIL:-}" ] && export HANDOVER_MAIL && echo "test: posted series from $HANDOVER_MAIL"
fi

part setup scripts/setup.sh
part "import check" scripts/check-imports.py
part "swift build" swift build
echo "test: kernel images"
.build/debug/handover image build --plan "${x86_images[@]}" "${arm64_images[@]}" | sed 's/^/  /'
part "images (x86_64)" .build/debug/handover image build "${x86_images[@]}"
# libvirtd and virtlogd for the libvirt backend's tests, local and over loopback TCP; stopped
# again at the end (only what the script started). If they do not start, the libvirt tests fail.
scripts/libvirt-daemons.sh start || echo "test: the libvirt daemons did not start; the libvirt backend's tests will fail" >&2
export HANDOVER_LIBVIRT_TCP_URI=qemu+tcp://127.0.0.1:${HANDOVER_LIBVIRT_TCP_PORT:-16519}/system
export HANDOVER_E2E=1

if (($#)); then
  part "images (arm64)" .build/debug/handover image build "${arm64_images[@]}"
  part "swift test $*" swift test "$@"
  exit
fi

# Without arguments: the arm64 pair builds at low priority while everything that does not need
# it runs (the tests take the cores first; the build takes what they leave), then the tests
# whose names say arm64 run once it is there. Nothing is left out: the second pass takes
# exactly what the first skipped.
arm64_log=$(mktemp)
nice -n 19 .build/debug/handover image build "${arm64_images[@]}" >"$arm64_log" 2>&1 &
arm64_build=$!
stop_arm64_build() { kill "$arm64_build" 2>/dev/null && wait "$arm64_build" 2>/dev/null; rm -f "$arm64_log"; }
trap 'status=$?; stop_arm64_build; summary "$status"' EXIT
first=0
part "swift test (all but arm64)" swift test --skip Arm64 || first=$?
arm64_status=0
part "images (arm64, after the wait)" wait "$arm64_build" || arm64_status=$?
if ((arm64_status)); then
  echo "test: building the arm64 pair failed (exit $arm64_status):" >&2
  tail -n 30 "$arm64_log" >&2
  exit "$arm64_status"
fi
part "swift test (arm64)" swift test --filter Arm64
exit "$first"
