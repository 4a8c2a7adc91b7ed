#!/usr/bin/env bash
# Builds the guest agent (/init of every test VM) as a static Embedded Swift executable:
# HandoverCore and Agent/Swift compiled in Embedded mode, the C shims in Agent/CLiveUpdate,
# linked by gcc against glibc statically. Prints the agent's path. Does nothing when the
# sources have not changed since the last build (their digest is kept beside the agent).
#   scripts/build-agent.sh [x86_64]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
arch="${1:-x86_64}"
case "$arch" in
  x86_64) target=x86_64-unknown-linux-gnu; cc=gcc ;;
  *) echo "build-agent: unknown architecture '$arch' (expected x86_64)" >&2; exit 2 ;;
esac

swiftc="${SWIFTC:-$(command -v swiftc)}" || { echo "build-agent: swiftc is not on PATH" >&2; exit 1; }
toolchain="$(dirname "$(dirname "$(readlink -f "$swiftc")")")"
unicode="$toolchain/lib/swift/embedded/$target/libswiftUnicodeDataTables.a"
[ -f "$unicode" ] || { echo "build-agent: $unicode is missing: this Swift toolchain has no Embedded Swift for $target" >&2; exit 1; }

out="$root/.build/agent/$arch"
agent="$out/handover-agent"
sources=$(cd "$root" && find Sources/HandoverCore Agent -type f \( -name '*.swift' -o -name '*.c' -o -name '*.h' -o -name '*.modulemap' \) | LC_ALL=C sort)
digest=$( (cd "$root" && cat $sources; echo "$target"; "$swiftc" --version 2>&1; cat "$0") | sha256sum | cut -d' ' -f1)
if [ -x "$agent" ] && [ "$(cat "$out/sources.sha256" 2>/dev/null)" = "$digest" ]; then
  echo "$agent"
  exit 0
fi

work="$out/objects"
rm -rf "$work" && mkdir -p "$work"
embedded=(-target "$target" -enable-experimental-feature Embedded -wmo -Osize -parse-as-library
          -Xfrontend -function-sections)
cd "$root"
"$swiftc" "${embedded[@]}" -module-name HandoverCore -emit-module -emit-module-path "$work/HandoverCore.swiftmodule" \
  -c -o "$work/HandoverCore.o" $(echo "$sources" | grep '^Sources/HandoverCore/.*\.swift$')
"$swiftc" "${embedded[@]}" -module-name handover_agent -I "$work" -I Agent/CLiveUpdate/include \
  -c -o "$work/agent.o" $(echo "$sources" | grep '^Agent/Swift/.*\.swift$')
for c in Agent/CLiveUpdate/*.c; do
  "$cc" -O2 -ffunction-sections -fdata-sections -I Agent/CLiveUpdate/include -c "$c" -o "$work/$(basename "$c" .c).o"
done
# glibc's static libraries warn about NSS functions the agent never calls; keep only errors.
"$cc" -static -Wl,--gc-sections -s -o "$agent.tmp" "$work"/*.o "$unicode" -lm 2> "$work/link.log" || { cat "$work/link.log" >&2; exit 1; }
mv "$agent.tmp" "$agent"
echo "$digest" > "$out/sources.sha256"
echo "$agent"
