#!/usr/bin/env bash
# Builds the guest agent (/init of every test VM) as a static Embedded Swift executable:
# HandoverCore and Agent/Swift compiled in Embedded mode, the C shims in Agent/CLiveUpdate,
# linked by gcc against glibc statically. Prints the agent's path. Does nothing when the
# sources have not changed since the last build (their digest is kept beside the agent).
# For aarch64 (arm64 guests) the Swift code is compiled for aarch64-none-none-elf (the only
# aarch64 Embedded Swift target the toolchain ships; the code uses only what it declares plus
# glibc through the C shims), the C shims by Debian's aarch64-linux-gnu-gcc against the
# aarch64 glibc headers (so syscall numbers and ioctl encodings are aarch64's), and the link
# uses the toolchain's lld (GNU ld refuses a copy relocation against a protected symbol).
#   scripts/build-agent.sh [x86_64|aarch64|all]
# "all" (what the GuestAgent plugin runs) builds x86_64, and aarch64 when the cross compiler
# is installed; an arm64 run without the aarch64 agent refuses with the reason.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
arch="${1:-x86_64}"
if [ "$arch" = all ]; then
  "$0" x86_64
  if command -v aarch64-linux-gnu-gcc >/dev/null && [ -d /usr/aarch64-linux-gnu/lib ]; then "$0" aarch64; fi
  exit 0
fi

swiftc="${SWIFTC:-$(command -v swiftc)}" || { echo "build-agent: swiftc is not on PATH" >&2; exit 1; }
toolchain="$(dirname "$(dirname "$(readlink -f "$swiftc")")")"
case "$arch" in
  x86_64) target=x86_64-unknown-linux-gnu; cc=gcc; ldflags=(); clang=() ;;
  aarch64|arm64)
    arch=aarch64; target=aarch64-none-none-elf; cc=aarch64-linux-gnu-gcc
    command -v "$cc" >/dev/null || { echo "build-agent: $cc is not installed (scripts/setup.sh installs gcc-aarch64-linux-gnu and libc6-dev-arm64-cross)" >&2; exit 1; }
    [ -x "$toolchain/bin/ld.lld" ] || { echo "build-agent: $toolchain/bin/ld.lld is missing: the aarch64 agent links with the Swift toolchain's lld" >&2; exit 1; }
    ldflags=(-fuse-ld=lld -B"$toolchain/bin")
    # A bare-metal target knows no C library: the importer reads the aarch64 glibc headers as
    # Linux would (the predefined macros clang gives aarch64-linux-gnu and none-elf lacks).
    sysroot="$("$cc" -print-sysroot 2>/dev/null)"; include="${sysroot:-}/usr/aarch64-linux-gnu/include"
    [ -d "$include" ] || include=/usr/aarch64-linux-gnu/include
    [ -f "$include/stdlib.h" ] || { echo "build-agent: $include/stdlib.h is missing (libc6-dev-arm64-cross)" >&2; exit 1; }
    clang=(-Xcc -isystem -Xcc "$include" -Xcc -D__linux__ -Xcc -D__linux -Xcc -D__gnu_linux__ -Xcc -D__unix__ -Xcc -D__unix) ;;
  *) echo "build-agent: unknown architecture '$arch' (expected x86_64, aarch64 or all)" >&2; exit 2 ;;
esac
unicode="$toolchain/lib/swift/embedded/$target/libswiftUnicodeDataTables.a"
[ -f "$unicode" ] || { echo "build-agent: $unicode is missing: this Swift toolchain has no Embedded Swift for $target" >&2; exit 1; }

out="$root/.build/agent/$arch"
agent="$out/handover-agent"
sources=$(cd "$root" && find Sources/HandoverCore Agent -type f \( -name '*.swift' -o -name '*.c' -o -name '*.h' -o -name '*.modulemap' \) | LC_ALL=C sort)
digest=$( (cd "$root" && cat $sources; echo "$target"; "$swiftc" --version 2>&1; "$cc" --version 2>&1 | head -1; cat "$0") | sha256sum | cut -d' ' -f1)
if [ -x "$agent" ] && [ "$(cat "$out/sources.sha256" 2>/dev/null)" = "$digest" ]; then
  echo "$agent"
  exit 0
fi

work="$out/objects"
rm -rf "$work" && mkdir -p "$work"
embedded=(-target "$target" -enable-experimental-feature Embedded -wmo -Osize -parse-as-library
          -Xfrontend -function-sections "${clang[@]}")
cd "$root"
"$swiftc" "${embedded[@]}" -module-name HandoverCore -emit-module -emit-module-path "$work/HandoverCore.swiftmodule" \
  -c -o "$work/HandoverCore.o" $(echo "$sources" | grep '^Sources/HandoverCore/.*\.swift$')
"$swiftc" "${embedded[@]}" -module-name handover_agent -I "$work" -I Agent/CLiveUpdate/include \
  -c -o "$work/agent.o" $(echo "$sources" | grep '^Agent/Swift/.*\.swift$')
for c in Agent/CLiveUpdate/*.c; do
  "$cc" -O2 -ffunction-sections -fdata-sections -I Agent/CLiveUpdate/include -c "$c" -o "$work/$(basename "$c" .c).o"
done
# glibc's static libraries warn about NSS functions the agent never calls; keep only errors.
"$cc" -static "${ldflags[@]}" -Wl,--gc-sections -s -o "$agent.tmp" "$work"/*.o "$unicode" -lm 2> "$work/link.log" || { cat "$work/link.log" >&2; exit 1; }
mv "$agent.tmp" "$agent"
echo "$digest" > "$out/sources.sha256"
echo "$agent"
