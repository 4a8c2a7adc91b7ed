#!/usr/bin/env bash
# Makes the kernel history the bisect tests and benchmark work on: a git repository whose root
# commit is Debian's linux-source-7.3 tree as handover unpacked it, with two branches.
#
#   memfd  8 commits: harmless changes, a syntax error (commit 4, fixed by commit 5), and
#          commit 6, which renames the memfd LUO handler's compatible string so the new kernel
#          cannot take back a memfd the old one preserved.
#   slow   4 commits: commit 2 adds a late initcall that busy-waits 8 s (mdelay): beyond what a
#          busy shared host does to a 4-7 s blackout under TCG.
#
# Author and committer dates are fixed, so every commit hash is the same on every machine.
# Usage: bisect-fixture.sh SOURCE-TREE DESTINATION
# Prints the destination. An existing destination made by the same version of this script is
# kept as it is; an older version's branches are remade on the same base commit in place (so
# the worktrees and build folders handover keeps for it stay warm).
set -euo pipefail

source_tree=${1:?usage: bisect-fixture.sh SOURCE-TREE DESTINATION}
destination=${2:?usage: bisect-fixture.sh SOURCE-TREE DESTINATION}
version=2
stamp="$destination/.git/handover-fixture"

if [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  echo "$destination"
  exit 0
fi
[ -f "$source_tree/Makefile" ] && [ -f "$source_tree/mm/memfd_luo.c" ] || {
  echo "bisect-fixture: $source_tree is not a linux 7.3 source tree (no Makefile or mm/memfd_luo.c)" >&2
  exit 2
}

export GIT_AUTHOR_NAME="Fixture Author" GIT_AUTHOR_EMAIL="author@handover.invalid"
export GIT_COMMITTER_NAME="Fixture Committer" GIT_COMMITTER_EMAIL="committer@handover.invalid"
export GIT_CONFIG_NOSYSTEM=1 HOME; HOME=$(mktemp -d)
step=0
commit() {
  step=$((step + 1))
  export GIT_AUTHOR_DATE="2026-01-01T00:$(printf %02d $step):00Z" GIT_COMMITTER_DATE="2026-01-01T00:$(printf %02d $step):00Z"
  git add -A -f
  git commit -q --no-verify -m "$1"
}
append_comment() { printf '\n/* %s */\n' "$2" >> "$1"; }

if git -C "$destination" rev-parse -q --verify fixture-base >/dev/null 2>&1; then
  # An older version of the branches: remake them on the same base commit, in place, so the
  # repository (and the worktrees handover made of it, with their build folders) stays.
  cd "$destination"
  git checkout -q -f --detach fixture-base
  git clean -fdq
  git branch -q -D memfd slow 2>/dev/null || true
  git tag -d fixture-memfd-bad fixture-slow-bad >/dev/null 2>&1 || true
  git checkout -q -b memfd
  step=1
else
  rm -rf "$destination.partial"
  mkdir -p "$destination.partial"
  cp -a "$source_tree/." "$destination.partial/"
  cd "$destination.partial"
  git init -q -b memfd
  git config core.autocrlf false
  git config gc.auto 0
  commit "Import linux-source-7.3 as unpacked by handover"
  git tag fixture-base
  cd /
  rm -rf "$destination"
  mv "$destination.partial" "$destination"
  cd "$destination"
fi

# The memfd history.
mkdir -p Documentation/handover
printf 'Notes for the handover bisect fixture.\n' > Documentation/handover/notes.rst
commit "docs: add handover notes"
append_comment kernel/liveupdate/luo_core.c "The orchestrator's core: sessions and the device."
commit "liveupdate: describe the core file"
append_comment mm/memfd_luo.c "Preserves memfds across a live update."
commit "memfd: describe the LUO handler file"
cp kernel/liveupdate/luo_core.c /tmp/handover-fixture-luo_core.$$
printf '\nstatic int luo_fixture_broken(void) { return 0 }\n' >> kernel/liveupdate/luo_core.c
commit "liveupdate: add a helper (does not build)"
cp /tmp/handover-fixture-luo_core.$$ kernel/liveupdate/luo_core.c
rm -f /tmp/handover-fixture-luo_core.$$
commit "liveupdate: fix the helper's build"
sed -i 's/\.compatible = MEMFD_LUO_FH_COMPATIBLE,/.compatible = "memfd-fixture-v0",/' mm/memfd_luo.c
grep -q '"memfd-fixture-v0"' mm/memfd_luo.c
commit "memfd: rename the handler's compatible string"
append_comment kernel/kexec_handover.c "Kexec HandOver: memory preserved for the next kernel."
commit "kho: describe the file"
printf 'Second paragraph.\n' >> Documentation/handover/notes.rst
commit "docs: extend the handover notes"
git tag fixture-memfd-bad

# The slow-boot history, from the same base.
git checkout -q -b slow fixture-base
step=20
append_comment init/main.c "Where the kernel starts."
commit "init: describe main.c"
cat >> kernel/liveupdate/luo_core.c <<'EOF'

#include <linux/delay.h>

static int __init luo_fixture_settle(void)
{
	mdelay(8000);
	return 0;
}
late_initcall(luo_fixture_settle);
EOF
commit "liveupdate: wait for the hardware to settle at boot"
printf 'Notes for the slow branch.\n' > Documentation/handover-slow.rst
commit "docs: add notes for the slow branch"
append_comment mm/memfd_luo.c "memfd preservation."
commit "memfd: describe the file"
git tag fixture-slow-bad
git checkout -q memfd

rm -rf "$HOME"
echo "$version" > .git/handover-fixture
echo "$destination"
