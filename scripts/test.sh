#!/usr/bin/env bash
# The whole test suite: unit tests and end-to-end tests that boot real kernels under QEMU.
# Builds the tool and the kernel images the end-to-end tests use (cached after the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build
.build/debug/handover image build linux-7.2 linux-7.3 linux-6.12 linux-7.3-luo-v6
# The series kernels read the posted series from the mail folders in HANDOVER_MAIL; by default
# the archive copy beside the checkout. Without it their build stops with an error that says so.
if [ -z "${HANDOVER_MAIL:-}" ] && [ -d "$PWD/../shared/series" ]; then
    export HANDOVER_MAIL="$PWD/../shared/series"
fi
.build/debug/handover image build linux-7.3-gmem linux-7.3-gmem-buggy linux-7.3-vfio
# The arm64 pair (Tests/EndToEndTests/Arm64Tests.swift), cross-built: about 9 minutes each on two
# idle cores with the cache cold, from the same unpacked sources as linux-7.2 and linux-7.3.
.build/debug/handover image build linux-7.2-arm64 linux-7.3-arm64
# libvirtd and virtlogd for the libvirt backend's tests, local and over loopback TCP; stopped
# again at the end (only what the script started). If they do not start, the libvirt tests fail.
trap 'scripts/libvirt-daemons.sh stop || true' EXIT
scripts/libvirt-daemons.sh start || echo "test: the libvirt daemons did not start; the libvirt backend's tests will fail" >&2
export HANDOVER_LIBVIRT_TCP_URI=qemu+tcp://127.0.0.1:${HANDOVER_LIBVIRT_TCP_PORT:-16519}/system
HANDOVER_E2E=1 swift test "$@"
