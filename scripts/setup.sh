#!/usr/bin/env bash
# Installs what handover needs on a fresh Debian machine: kernel build tools, QEMU, and the
# tools the tests and benchmarks use. Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
  # building kernels from Debian's linux-source packages
  build-essential flex bison bc libelf-dev libssl-dev cpio rsync xz-utils dpkg-dev
  # modules_install runs depmod (recipes with modules:); the kernel's bindeb-pkg runs
  # debhelper's dh_listpackages (scripts/deb-fixture.sh, the package-source test)
  kmod debhelper
  # bisect: compiler cache for the incremental builds of a tree's commits
  ccache
  # running them
  qemu-system-x86
  # arm64 (issue 20): cross-building arm64 kernels and the aarch64 guest agent (glibc's static
  # aarch64 libraries and headers for the agent's C shims), and booting them on QEMU's virt machine
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm
  # the libvirt backend (--backend libvirt): daemon, QEMU driver, virsh, and the C API's headers;
  # scripts/libvirt-daemons.sh starts the daemons
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev
  # benchmarks
  hyperfine time
  # the tests: JUnit schema validation and the HTML report in a headless browser
  libxml2-utils chromium
  # the Python virtual environment below (KCIDB validation, CI recipe linting)
  python3 python3-venv
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6.2 or later is needed)" >&2; exit 1; }

# The project's own Python virtual environment, .venv in the checkout (ignored by git), with
# KernelCI's schema package kcidb-io (scripts/kcidb-validate.py validates KCIDB files with it)
# and check-jsonschema (lints ci-examples/ against its vendored GitHub Actions and GitLab CI
# schemas). Pinned, so every machine validates against the same schema; recreated when the pins
# change.
venv="$(cd "$(dirname "$0")/.." && pwd)/.venv"
pins=(kcidb-io==141 check-jsonschema==0.39.0)
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "${pins[*]}" ]; then
  echo "setup: creating $venv with ${pins[*]}"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
  echo "${pins[*]}" > "$venv/.pins"
fi
