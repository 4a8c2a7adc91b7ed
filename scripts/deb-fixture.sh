#!/usr/bin/env bash
# Makes a Debian binary kernel package the way a kernel team's CI does (`make bindeb-pkg`),
# for the end-to-end test of `source: {package: ...}` recipes: from an unpacked source tree
# and a .config (an image's), built in a direct subfolder of the tree through handover's
# compiler cache (so the image built from the same tree and config serves it). Prints the
# linux-image package's path. Kept when it exists: a second call prints it again.
#
# Usage: scripts/deb-fixture.sh TREE CONFIG OUT-FOLDER
set -euo pipefail
tree=$1 config=$2 out=$3
existing=$(ls "$out"/linux-image-*.deb 2>/dev/null | grep -v -- -dbg_ | head -n1 || true)
if [ -n "$existing" ]; then echo "$existing"; exit 0; fi
cache=${HANDOVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/handover}
objects="$tree/.handover-build-deb-$$"
trap 'rm -rf "$objects" "$tree"/linux-*.deb "$tree"/linux-upstream*.buildinfo "$tree"/linux-upstream*.changes' EXIT
mkdir -p "$objects" "$out"
cp "$config" "$objects/.config"
export CCACHE_DIR="$cache/ccache" CCACHE_BASEDIR="$cache" CCACHE_NOHASHDIR=1 CCACHE_SLOPPINESS=time_macros
export KBUILD_BUILD_USER=handover KBUILD_BUILD_HOST=handover
make=(make -C "$tree" O="$objects" CC="ccache gcc" HOSTCC="ccache gcc")
"${make[@]}" olddefconfig >&2
# -d: of the build dependencies the generated control file names, debhelper is installed
# (scripts/setup.sh) and libdw-dev is for debug info, which this configuration has none of.
"${make[@]}" -j"$(nproc)" bindeb-pkg KDEB_PKGVERSION=1handover DPKG_FLAGS=-d >&2
package=$(ls "$tree"/linux-image-*.deb | grep -v -- -dbg_ | head -n1)
mv "$package" "$out/"
echo "$out/$(basename "$package")"
