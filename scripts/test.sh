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
x86_images=(linux-7.2 linux-7.3 linux-7.3-luo-v6 linux-6.12)
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
  local status=$?
  echo "test: time per part (exit $status)"
  printf '  %s\n' "${parts[@]}"
  printf '  %-28s %3dm%02ds\n' total $((SECONDS / 60)) $((SECONDS % 60))
  scripts/libvirt-daemons.sh stop >/dev/null 2>&1 || true
}
trap summary EXIT

part setup scripts/setup.sh
part "swift build" swift build
echo "test: kernel images"
.build/debug/handover image build --plan "${x86_images[@]}" "${arm64_images[@]}" | sed 's/^/  /'
part "images (x86_64)" .build/debug/handover image build "${x86_images[@]}"
part "images (arm64)" .build/debug/handover image build "${arm64_images[@]}"
# libvirtd and virtlogd for the libvirt backend's tests, local and over loopback TCP; stopped
# again at the end (only what the script started). If they do not start, the libvirt tests fail.
scripts/libvirt-daemons.sh start || echo "test: the libvirt daemons did not start; the libvirt backend's tests will fail" >&2
export HANDOVER_LIBVIRT_TCP_URI=qemu+tcp://127.0.0.1:${HANDOVER_LIBVIRT_TCP_PORT:-16519}/system
export HANDOVER_E2E=1
part "swift test (unit and e2e)" swift test "$@"
