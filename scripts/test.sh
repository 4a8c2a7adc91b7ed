#!/usr/bin/env bash
# The whole test suite: unit tests and end-to-end tests that boot real kernels under QEMU.
# Builds the tool and the kernel images the end-to-end tests use (cached after the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build
.build/debug/handover image build linux-7.2 linux-7.3 linux-6.12 linux-7.3-luo-v6
HANDOVER_E2E=1 swift test "$@"
